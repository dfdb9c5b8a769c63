"""Bytes of the files users actually feed siamkit: broken, odd, oversized or lying about themselves.

Each builder returns the content of one file; the suites write it under whatever name (and
extension) the case needs. Everything is generated, a few KB at most, in milliseconds.
"""

from __future__ import annotations

import io
import os
import struct
import zlib

import numpy as np
from PIL import Image

ORIENTATION = 0x0112  # the EXIF tag a phone sets instead of rotating the pixels


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def noise_image(width: int = 64, height: int = 64, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


def jpeg() -> bytes:
    return encode(noise_image(), "JPEG")


def png() -> bytes:
    return encode(noise_image(), "PNG")


def truncated_jpeg() -> bytes:
    """A download cut off in the middle of the entropy-coded data."""
    data = jpeg()
    return data[: len(data) // 2]


def corrupt_jpeg_scan() -> bytes:
    """Header intact, 64 bytes of scan data inverted (a bad sector, a bit-rotted backup).

    JPEG has no checksum: libjpeg resynchronises and returns an image with a smeared block.
    """
    data = bytearray(jpeg())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    return bytes(data)


def corrupt_jpeg_tables() -> bytes:
    """The scan header asks for a Huffman table the file never defines."""
    data = bytearray(jpeg())
    scan = data.find(b"\xff\xda")  # SOS: length(2), components(1), then (id, tables) pairs
    data[scan + 6] = 0x33
    return bytes(data)


def corrupt_jpeg_header() -> bytes:
    """The frame header (SOF0) claims zero colour components."""
    data = bytearray(jpeg())
    frame = data.find(b"\xff\xc0")  # SOF0: length(2), precision(1), height(2), width(2), components(1)
    data[frame + 9] = 0
    return bytes(data)


def truncated_png() -> bytes:
    data = png()
    return data[: len(data) // 2]


def corrupt_png() -> bytes:
    """Signature and IHDR intact, the compressed pixel stream overwritten with zeros."""
    data = bytearray(png())
    data[60:160] = bytes(100)
    return bytes(data)


def text_file() -> bytes:
    return b"I am a shopping list, not a picture\n"


def zero_bytes() -> bytes:
    return b""


def cmyk_jpeg() -> bytes:
    """Print workflows save CMYK; Pillow must convert it, not hand the network 4 channels."""
    return encode(noise_image(32, 32).convert("CMYK"), "JPEG")


def sixteen_bit_png() -> bytes:
    """A scanner's 16-bit greyscale: must be scaled to 8 bits, not clipped to white."""
    return encode(Image.fromarray(np.linspace(0, 65535, 32 * 32, dtype=np.uint16).reshape(32, 32)), "PNG")


def one_pixel_png() -> bytes:
    return encode(Image.new("RGB", (1, 1), (200, 30, 30)), "PNG")


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png(width: int, height: int, bit_depth: int, idat: bytes) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0)  # greyscale, no interlace
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def bomb_png(side: int = 20000) -> bytes:
    """A real, valid side x side single-colour PNG: ~50 KB on disk, 400 MP (1.2 GB RGB) decoded.

    One bit per pixel keeps the raw stream at 50 MB, so zlib builds it in a fraction of a second.
    """
    row = bytes(1 + (side + 7) // 8)  # filter byte + packed bits
    return _png(side, side, 1, zlib.compress(row * side, 9))


def bomb_png_header_only(width: int = 20000, height: int = 20000) -> bytes:
    """A 70-byte PNG whose header claims width x height: refused before a byte is decoded."""
    return _png(width, height, 8, zlib.compress(bytes(100)))


def exif_rotated_jpeg(orientation: int) -> bytes:
    """A 40x20 photo, left half red and right half blue, stored with an EXIF orientation flag."""
    pixels = np.zeros((20, 40, 3), dtype=np.uint8)
    pixels[:, :20] = (255, 0, 0)
    pixels[:, 20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    return encode(Image.fromarray(pixels), "JPEG", exif=exif, quality=95)


def tiff_with_sizeless_second_page() -> bytes:
    """A TIFF whose IFD chain leads to a second page without width or height.

    Pillow raises ``TypeError("Missing dimensions")`` from ``n_frames`` for it; found by
    benchmarks/fuzz_decode.py.
    """
    data = bytearray(encode(noise_image(16, 12), "TIFF"))
    assert data[:4] == b"II*\x00"
    (first,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, first)
    second = len(data)
    struct.pack_into("<I", data, first + 2 + 12 * count, second)  # "next IFD" of page one
    data += struct.pack("<H", 1) + struct.pack("<HHII", 262, 3, 1, 1) + struct.pack("<I", 0)  # Photometric only
    return bytes(data)


def not_utf8_name(stem: bytes, suffix: str = ".png") -> str:
    """A file name as Latin-1 systems write it (``b"caf\\xe9"``): not valid UTF-8.

    Python hands such names around as ``str`` with surrogate escapes (``os.fsdecode``).
    """
    return os.fsdecode(stem + suffix.encode())
