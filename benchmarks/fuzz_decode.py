"""Fuzz ``siamkit.data.images.load_image`` with mutated JPEG, PNG, GIF, BMP, TIFF and WebP bytes.

Every input an upload or a dataset folder can hand siamkit must end one of two ways: an RGB
image, or :class:`~siamkit.data.images.ImageDecodeError` (a ``SiamkitError``) naming the input.
Anything else (another exception type, a crash of the process, an input that takes longer than
``--hang-seconds`` to decode) is a finding: its bytes are written as hex to ``--out`` and the
script exits with status 1.

Hypothesis draws a small valid image of one format and applies a few mutations to it: bit
flips, truncation, inserted or overwritten random chunks, deleted ranges, and edits of the
width/height fields of the format's header (0, 1, 65535, 2^31 - 1, ...). Decoding runs in a
worker process, so a hang or a hard crash is caught and the worker replaced; the run is bounded
by ``--seconds`` of wall time.

    PYTHONPATH=src python benchmarks/fuzz_decode.py                  # 60 s
    PYTHONPATH=src python benchmarks/fuzz_decode.py --seconds 600 --out fuzz-findings

``tests/hostile/test_fuzz_smoke.py`` runs the same strategy (``mutated_images``) for ~50 inputs.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import struct
import sys
import time
import traceback
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

FORMATS = ("JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP")
INTERESTING_SIZES = (0, 1, 2, 255, 256, 0x7FFF, 0x8000, 0xFFFF, 20000, 0x7FFFFFFF, 0xFFFFFFFF)


# --- seeds: small valid images, several modes per format ------------------------------------


def _encode(image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def seed_images() -> list[tuple[str, bytes]]:
    """(format, bytes) of small valid images: the starting points of every mutation."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8))
    rgba = Image.fromarray(rng.integers(0, 256, (12, 16, 4), dtype=np.uint8))
    grey16 = Image.fromarray(rng.integers(0, 65536, (12, 16), dtype=np.uint16))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate for display: exercises exif_transpose
    frames = [Image.new("P", (16, 12), i) for i in range(3)]
    seeds = [
        ("JPEG", _encode(rgb, "JPEG", quality=80)),
        ("JPEG", _encode(rgb, "JPEG", progressive=True, exif=exif)),
        ("JPEG", _encode(rgb.convert("CMYK"), "JPEG")),
        ("JPEG", _encode(rgb.convert("L"), "JPEG")),
        ("PNG", _encode(rgb, "PNG")),
        ("PNG", _encode(rgba, "PNG")),
        ("PNG", _encode(grey16, "PNG")),
        ("PNG", _encode(rgb.convert("P"), "PNG", transparency=0)),
        ("PNG", _encode(rgb.convert("1"), "PNG")),
        ("GIF", _encode(rgb.convert("P"), "GIF")),
        ("GIF", _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=10)),
        ("BMP", _encode(rgb, "BMP")),
        ("BMP", _encode(rgb.convert("P"), "BMP")),
        ("TIFF", _encode(rgb, "TIFF")),
        ("TIFF", _encode(rgb, "TIFF", compression="tiff_deflate")),
        ("TIFF", _encode(grey16, "TIFF")),
        ("TIFF", _encode(rgb.convert("CMYK"), "TIFF", exif=exif)),
        ("WEBP", _encode(rgb, "WEBP", quality=80)),
        ("WEBP", _encode(rgba, "WEBP", lossless=True)),
    ]
    return seeds


# --- where each format keeps its width and height ---------------------------------------------


@dataclass(frozen=True)
class Field:
    offset: int
    size: int  # bytes
    order: str  # ">" big-endian, "<" little-endian


def _tiff_fields(data: bytes) -> list[Field]:
    order = "<" if data[:2] == b"II" else ">"
    try:
        (ifd,) = struct.unpack_from(order + "I", data, 4)
        (count,) = struct.unpack_from(order + "H", data, ifd)
        fields = []
        for entry in range(count):
            at = ifd + 2 + 12 * entry
            tag, kind = struct.unpack_from(order + "HH", data, at)
            if tag in (256, 257, 278):  # ImageWidth, ImageLength, RowsPerStrip
                fields.append(Field(at + 8, 2 if kind == 3 else 4, order))
        return fields
    except struct.error:
        return []


def dimension_fields(fmt: str, data: bytes) -> list[Field]:
    """Byte ranges of the width/height fields in a seed image's header."""
    if fmt == "PNG":
        return [Field(16, 4, ">"), Field(20, 4, ">")]
    if fmt == "BMP":
        return [Field(18, 4, "<"), Field(22, 4, "<")]
    if fmt == "GIF":
        fields = [Field(6, 2, "<"), Field(8, 2, "<")]
        descriptor = data.find(b"\x2c", 13)  # first image descriptor: left, top, width, height
        if descriptor > 0:
            fields += [Field(descriptor + 1 + 2 * i, 2, "<") for i in range(4)]
        return fields
    if fmt == "JPEG":
        for marker in (b"\xff\xc0", b"\xff\xc2"):
            at = data.find(marker)
            if at >= 0:
                return [Field(at + 5, 2, ">"), Field(at + 7, 2, ">")]
        return []
    if fmt == "TIFF":
        return _tiff_fields(data)
    if fmt == "WEBP":
        if data[12:16] == b"VP8 ":
            return [Field(26, 2, "<"), Field(28, 2, "<")]
        if data[12:16] == b"VP8L":
            return [Field(21, 4, "<")]  # 14-bit width-1 and height-1, packed
        return []
    return []


# --- mutations ----------------------------------------------------------------------------------


def _mutations(size_hint: int):
    position = st.integers(0, max(0, size_hint))
    return st.one_of(
        st.tuples(st.just("flip"), position, st.integers(0, 7)),
        st.tuples(st.just("truncate"), position),
        st.tuples(st.just("insert"), position, st.binary(min_size=1, max_size=64)),
        st.tuples(st.just("overwrite"), position, st.binary(min_size=1, max_size=32)),
        st.tuples(st.just("delete"), position, st.integers(1, 256)),
        st.tuples(st.just("dimension"), st.integers(0, 7), st.one_of(st.sampled_from(INTERESTING_SIZES), st.integers(0, 2**32 - 1))),
    )


def apply_mutation(fmt: str, data: bytes, mutation: tuple) -> bytes:
    kind = mutation[0]
    buffer = bytearray(data)
    if not buffer and kind != "insert":
        return bytes(buffer)
    if kind == "flip":
        _, at, bit = mutation
        buffer[at % len(buffer)] ^= 1 << bit
    elif kind == "truncate":
        del buffer[mutation[1] % (len(buffer) + 1) :]
    elif kind == "insert":
        _, at, chunk = mutation
        at = at % (len(buffer) + 1)
        buffer[at:at] = chunk
    elif kind == "overwrite":
        _, at, chunk = mutation
        at = at % len(buffer)
        buffer[at : at + len(chunk)] = chunk
    elif kind == "delete":
        _, at, length = mutation
        at = at % len(buffer)
        del buffer[at : at + length]
    elif kind == "dimension":
        _, which, value = mutation
        fields = [f for f in dimension_fields(fmt, data) if f.offset + f.size <= len(buffer)]
        if fields:
            field = fields[which % len(fields)]
            code = {1: "B", 2: "H", 4: "I"}[field.size]
            value %= 1 << (8 * field.size)
            struct.pack_into(field.order + code, buffer, field.offset, value)
    return bytes(buffer)


@st.composite
def mutated_images(draw, max_mutations: int = 4) -> tuple[str, bytes, list]:
    """A (format, bytes, mutations) triple: a seed image with 1..max_mutations mutations applied."""
    fmt, data = draw(st.sampled_from(_SEEDS))
    applied = []
    for _ in range(draw(st.integers(1, max_mutations))):
        mutation = draw(_mutations(len(data)))
        data = apply_mutation(fmt, data, mutation)
        applied.append(mutation)
    return fmt, data, applied


_SEEDS = seed_images()


# --- the contract -------------------------------------------------------------------------------


def check_contract(data: bytes) -> tuple[str, str]:
    """Decode ``data``; return (outcome, detail) with outcome "image", "refused" or "crash"."""
    from siamkit.data.images import load_image
    from siamkit.errors import SiamkitError

    try:
        image = load_image(data)
    except SiamkitError as exc:  # ImageDecodeError is one
        return "refused", str(exc)
    except BaseException as exc:  # noqa: BLE001 - anything else is what we are looking for
        frames = traceback.extract_tb(exc.__traceback__)
        where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
        return "crash", f"{type(exc).__name__} at {where}: {exc}\n{traceback.format_exc()}"
    if image.mode != "RGB" or image.width < 1 or image.height < 1:
        return "crash", f"contract: load_image returned mode {image.mode} size {image.size}"
    return "image", f"{image.width}x{image.height}"


def _worker(connection) -> None:
    import os
    import warnings

    # Pillow's warnings about corrupt metadata and libtiff's messages on fd 2 are expected
    # for mutated files; they would drown the summary.
    warnings.simplefilter("ignore")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
    while True:
        data = connection.recv_bytes()
        connection.send(check_contract(data))


class Decoder:
    """``check_contract`` in a worker process, so a hang or a segfault is a finding, not the end."""

    def __init__(self, hang_seconds: float):
        self.hang_seconds = hang_seconds
        self.first = True  # the first answer also waits for the worker to import numpy and Pillow
        self.context = multiprocessing.get_context("spawn")
        self._start()

    def _start(self) -> None:
        self.connection, child = self.context.Pipe()
        self.process = self.context.Process(target=_worker, args=(child,), daemon=True)
        self.process.start()
        child.close()

    def _restart(self) -> None:
        self.process.kill()
        self.process.join()
        self._start()

    def decode(self, data: bytes) -> tuple[str, str, float]:
        started = time.perf_counter()
        self.connection.send_bytes(data)
        if not self.connection.poll(self.hang_seconds + (30 if self.first else 0)):
            self._restart()
            return "hang", f"no answer within {self.hang_seconds:g} s", time.perf_counter() - started
        self.first = False
        try:
            outcome, detail = self.connection.recv()
        except EOFError:
            code = self.process.exitcode
            self._restart()
            return "crash", f"worker process died (exit code {code})", time.perf_counter() - started
        return outcome, detail, time.perf_counter() - started

    def close(self) -> None:
        self.process.kill()
        self.process.join()


# --- the run -------------------------------------------------------------------------------------


@dataclass
class Tally:
    outcomes: Counter
    formats: Counter
    findings: dict  # signature -> path of the hex file
    slowest: tuple = (0.0, "")


def _signature(outcome: str, detail: str) -> str:
    return outcome + ": " + detail.splitlines()[0].split(": ", 1)[0] if outcome == "crash" else outcome


def _record(out: Path, tally: Tally, fmt: str, data: bytes, mutations: list, outcome: str, detail: str) -> None:
    signature = _signature(outcome, detail)
    if signature in tally.findings:
        return
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{outcome}-{len(tally.findings) + 1:03d}-{fmt.lower()}.hex"
    path.write_text(
        f"# {outcome} ({fmt} seed, mutations {mutations!r})\n# {detail.strip().replace(chr(10), chr(10) + '# ')}\n{data.hex()}\n",
        encoding="utf-8",
    )
    tally.findings[signature] = path


def run(seconds: float, hang_seconds: float, out: Path, batch: int = 200) -> Tally:
    decoder = Decoder(hang_seconds)
    tally = Tally(Counter(), Counter(), {})
    stop_at = time.monotonic() + seconds

    @settings(
        max_examples=batch, deadline=None, database=None, phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(mutated_images())
    def one_batch(case):
        if time.monotonic() > stop_at:
            return
        fmt, data, mutations = case
        outcome, detail, took = decoder.decode(data)
        tally.outcomes[outcome] += 1
        tally.formats[fmt] += 1
        if took > tally.slowest[0]:
            tally.slowest = (took, f"{fmt}, {len(data)} bytes, {outcome}")
        if outcome in ("crash", "hang"):
            _record(out, tally, fmt, data, mutations, outcome, detail)

    try:
        while time.monotonic() < stop_at:
            one_batch()
    finally:
        decoder.close()
    return tally


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="wall-time budget (default 60)")
    parser.add_argument("--hang-seconds", type=float, default=5.0, help="an input taking longer is a hang (default 5)")
    parser.add_argument("--out", type=Path, default=Path("fuzz-findings"), help="folder for the hex files of findings")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    tally = run(args.seconds, args.hang_seconds, args.out)
    total = sum(tally.outcomes.values())
    print(f"{total} inputs in {time.perf_counter() - started:.0f} s: " + ", ".join(f"{k} {v}" for k, v in sorted(tally.outcomes.items())))
    print("by seed format: " + ", ".join(f"{k} {v}" for k, v in sorted(tally.formats.items())))
    print(f"slowest input: {tally.slowest[0]:.3f} s ({tally.slowest[1]})")
    if tally.findings:
        print(f"{len(tally.findings)} distinct finding(s):")
        for signature, path in tally.findings.items():
            print(f"  {signature} -> {path}")
        return 1
    print("no findings: every input decoded to RGB or was refused with ImageDecodeError")
    return 0


if __name__ == "__main__":
    sys.exit(main())
