"""Turning whatever a user points at into an RGB PIL image, or a clear reason why not.

Photo folders collected by hand contain everything: CMYK JPEGs from print workflows, 16-bit
PNGs from scanners, palette GIF-likes, phone photos whose pixels are stored sideways with an
EXIF rotation flag, truncated downloads and files that merely carry an image extension. Every
code path in siamkit (training, evaluation, search, the web service) decodes through
:func:`load_image` so they all agree on what an image looks like.
"""

from __future__ import annotations

import io
import os
import stat
import struct
import warnings
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from siamkit.errors import SiamkitError

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".pgm", ".ppm", ".pbm", ".pnm", ".bmp", ".webp", ".tif", ".tiff", ".gif"}
)

# Refuse images whose pixel count could exhaust memory (decompression bombs). 89 MP is Pillow's
# own warning threshold; we make it a hard limit so a hostile upload cannot take the process down.
MAX_IMAGE_PIXELS = 89_478_485

ImageInput = Union[str, os.PathLike, bytes, bytearray, memoryview, np.ndarray, Image.Image]


class ImageDecodeError(SiamkitError):
    """An input that is not a decodable image; the message names the file."""


def is_image_file(path: Union[str, os.PathLike]) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def _describe(source: ImageInput) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{len(source)} bytes>"
    return f"<{type(source).__name__}>"


def _require_regular_file(path: Union[str, os.PathLike], name: str) -> None:
    """Refuse pipes, sockets and devices: opening a FIFO named ``x.jpg`` blocks until a writer comes."""
    mode = os.stat(path).st_mode
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(path)
    if not stat.S_ISREG(mode):
        raise ImageDecodeError(f"{name}: not a regular file (a pipe, socket or device)")


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB, scaling 16/32-bit data instead of clipping it."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # float32 and in place: an 88-megapixel 16-bit scan would need 2.3 GB in float64 copies.
        array = np.array(image, dtype=np.float32)
        low, high = float(array.min()), float(array.max())
        array -= low
        array *= np.float32(255.0 / (high - low) if high > low else 0.0)
        np.rint(array, out=array)
        return Image.fromarray(array.astype(np.uint8), mode="L").convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Composite transparent pixels on white: black-on-transparent drawings stay visible.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _from_array(array: np.ndarray) -> Image.Image:
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise ImageDecodeError(f"array of shape {array.shape} is not an image (want HxW, HxWx1, HxWx3 or HxWx4)")
    if array.dtype != np.uint8:
        array = np.asarray(array, dtype=np.float64)
        high = 1.0 if array.max() <= 1.0 else 255.0
        array = np.clip(array / high * 255.0, 0, 255).round().astype(np.uint8)
    if array.shape[2] == 1:
        return Image.fromarray(array[:, :, 0], mode="L").convert("RGB")
    if array.shape[2] == 4:
        return _to_rgb(Image.fromarray(array, mode="RGBA"))
    return Image.fromarray(array, mode="RGB")


def load_image(source: ImageInput, mode: str = "RGB") -> Image.Image:
    """Decode ``source`` (path, encoded bytes, numpy array or PIL image) into an RGB image, or a
    grey-scale one with ``mode="L"`` (what a one-channel backbone reads).

    Applies the EXIF orientation so a phone photo compares the way a person sees it. Raises
    :class:`ImageDecodeError` naming the source for anything unreadable, truncated or too large.
    """
    if mode not in ("RGB", "L"):
        raise ValueError(f"load_image: mode must be 'RGB' or 'L', got {mode!r}")
    image = _load_rgb(source)
    # Grey sources went L -> RGB above; PIL's luma weights sum to 1, so L -> RGB -> L is exact.
    return image.convert("L") if mode == "L" else image


def _load_rgb(source: ImageInput) -> Image.Image:
    if isinstance(source, Image.Image):
        return _to_rgb(ImageOps.exif_transpose(source) or source)
    if isinstance(source, np.ndarray):
        return _from_array(source)
    if isinstance(source, (str, os.PathLike)):
        packed = _from_idx_file(os.fspath(source))
        if packed is not None:
            return packed
    name = _describe(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        stream = io.BytesIO(bytes(source))
    else:
        stream = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            if stream is None:
                _require_regular_file(source, name)
            opened = Image.open(stream if stream is not None else source)
            with opened as image:
                width, height = image.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise ImageDecodeError(
                        f"{name}: image of {width}x{height} pixels is larger than the "
                        f"{MAX_IMAGE_PIXELS:,}-pixel limit"
                    )
                if getattr(image, "n_frames", 1) > 1:
                    image.seek(0)
                image.load()
                rotated = ImageOps.exif_transpose(image) or image
                return _to_rgb(rotated).copy()
    except ImageDecodeError:
        raise
    except FileNotFoundError:
        raise ImageDecodeError(f"{name}: file not found") from None
    except IsADirectoryError:
        raise ImageDecodeError(f"{name}: is a folder, not an image") from None
    except PermissionError:
        raise ImageDecodeError(f"{name}: permission denied") from None
    except UnidentifiedImageError:
        raise ImageDecodeError(f"{name}: not a recognised image format") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageDecodeError(f"{name}: refused as a decompression bomb (too many pixels)") from None
    except (OSError, SyntaxError, ValueError, EOFError, TypeError, IndexError, struct.error) as exc:
        # Pillow's plugins signal a malformed file with any of these (Image.open itself treats
        # SyntaxError, IndexError, TypeError and struct.error so); e.g. a TIFF whose second
        # frame lacks its width raises TypeError from ``n_frames`` (found by fuzz_decode.py).
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ImageDecodeError(f"{name}: cannot decode image ({reason})") from None


def _from_idx_file(path: str) -> Image.Image | None:
    """An image stored inside an IDX array (``file#index``, see :mod:`siamkit.data.idx`)."""
    from siamkit.data.idx import idx_item, load_idx_image

    item = idx_item(path)
    if item is None:
        return None
    try:
        return _from_array(load_idx_image(*item))
    except ImageDecodeError:
        raise
    except SiamkitError as exc:
        raise ImageDecodeError(str(exc)) from None


def check_image(path: Union[str, os.PathLike]) -> str | None:
    """Return ``None`` if ``path`` decodes, else the one-line reason it does not."""
    try:
        load_image(path)
    except ImageDecodeError as exc:
        return str(exc)
    return None
