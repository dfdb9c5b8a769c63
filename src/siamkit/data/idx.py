"""Reading MNIST-style IDX files (Fashion-MNIST, MNIST, EMNIST) as a siamkit dataset.

These datasets ship as a few gzipped arrays rather than one file per image, so unpacking
70,000 PNGs just to train would waste minutes and disk. Instead each image gets a virtual path,
``<images file>#<index>``, that :func:`siamkit.data.images.load_image` resolves from the array
(read once per process and kept). Everything that takes image paths — training, evaluation,
reports, ``siamkit embed`` — then works on IDX data unchanged. The file names say which part
of the official split an image belongs to (``train-*`` or ``t10k-*``/``test-*``), and that
split is kept, so test numbers are comparable with published ones.
"""

from __future__ import annotations

import functools
import gzip
import os
import re
from pathlib import Path

import numpy as np

from siamkit.errors import SiamkitError

# IDX type codes (http://yann.lecun.com/exdb/mnist/): byte 3 of the magic number.
_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IMAGES = re.compile(r"^(?P<part>.+?)[-_.]images[-_.]idx3[-_.]ubyte(\.gz)?$")
_SPLIT_OF_PART = {"train": "train", "t10k": "test", "test": "test", "val": "val", "valid": "val"}
_ITEM = re.compile(r"^(?P<file>.+[-_.]idx3[-_.]ubyte(\.gz)?)#(?P<index>\d+)$")


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The array stored in one IDX file (gzipped or not), checked against its header."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError) as exc:
        raise SiamkitError(f"{path}: cannot read IDX file ({exc})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise SiamkitError(f"{path}: not an IDX file (bad magic number)")
    dims = data[3]
    header = 4 + 4 * dims
    if dims == 0 or len(data) < header:
        raise SiamkitError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    dtype = np.dtype(_DTYPES[data[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise SiamkitError(f"{path}: IDX data is {len(data) - header} bytes, header promises {expected} for shape {shape}")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


def idx_parts(folder: str | os.PathLike) -> list[tuple[Path, Path, str]]:
    """(images file, labels file, official split) for every IDX pair in ``folder``."""
    folder = Path(folder)
    parts = []
    for images in sorted(folder.iterdir()):
        match = _IMAGES.match(images.name)
        if not match or not images.is_file():
            continue
        labels_name = images.name.replace("images", "labels").replace("idx3", "idx1")
        labels = folder / labels_name
        if not labels.is_file():
            raise SiamkitError(f"{images}: no labels file {labels_name} beside it")
        part = match.group("part").lower()
        parts.append((images, labels, _SPLIT_OF_PART.get(part, "")))
    return parts


def is_idx_folder(folder: str | os.PathLike) -> bool:
    try:
        return Path(folder).is_dir() and any(_IMAGES.match(p.name) for p in Path(folder).iterdir())
    except OSError:
        return False


def idx_items(folder: str | os.PathLike) -> list[tuple[str, str, str]]:
    """(virtual path, label, official split) for every image of every IDX pair in ``folder``."""
    items = []
    for images_path, labels_path, split in idx_parts(folder):
        images, labels = _cached_array(str(images_path)), read_idx(labels_path)
        if images.ndim != 3:
            raise SiamkitError(f"{images_path}: expected a stack of 2-D images, got shape {images.shape}")
        if len(labels) != len(images):
            raise SiamkitError(f"{labels_path}: {len(labels)} labels for {len(images)} images in {images_path.name}")
        items.extend((f"{images_path}#{i}", str(int(label)), split) for i, label in enumerate(labels))
    return items


def idx_item(path: str | os.PathLike) -> tuple[str, int] | None:
    """The IDX file and image number a virtual path points at, or None for an ordinary path."""
    if not isinstance(path, str) or "#" not in path:
        return None
    match = _ITEM.match(path)
    return (match.group("file"), int(match.group("index"))) if match else None


def load_idx_image(file: str, index: int) -> np.ndarray:
    images = _cached_array(file)
    if not 0 <= index < len(images):
        raise SiamkitError(f"{file}#{index}: the file holds images 0..{len(images) - 1}")
    return images[index]


@functools.lru_cache(maxsize=8)
def _cached_array(file: str) -> np.ndarray:
    # One copy per process: 60,000 28x28 images are 47 MB, read in a fraction of a second.
    return read_idx(file)
