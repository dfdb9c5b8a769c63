"""Finding the images and their identities in what a user points at: a scanned dataset.

Which formats are understood (a folder of identity folders, a CSV listing, MNIST-style IDX files,
or any reader registered from user code) is up to :mod:`siamkit.data.readers`; this module asks
the first reader that recognises the input for its records and checks them.
Files that cannot be decoded are skipped and reported in one warning line, because one bad JPEG
in ten thousand should not cost a user their training run.
"""

from __future__ import annotations

import hashlib
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from siamkit.data.images import check_image
from siamkit.data.readers import find_reader, get_reader, image_folders, reader_order
from siamkit.data.records import ImageRecord
from siamkit.errors import SiamkitError

__all__ = ["ImageDataset", "ImageRecord", "image_folders", "listing_sha256", "scan_dataset"]

log = logging.getLogger("siamkit")

_LOOKED_FOR = ", ".join(sorted({".jpg", ".png", ".pgm", ".bmp", ".webp", ".tif"}))


@dataclass
class ImageDataset:
    """A list of labelled images plus what was skipped while finding them."""

    records: list[ImageRecord]
    root: str
    skipped: list[str]

    def __len__(self) -> int:
        return len(self.records)

    @property
    def labels(self) -> list[str]:
        return [record.label for record in self.records]

    def identities(self) -> dict[str, list[int]]:
        """Indices of each identity's images, in a stable order."""
        by_label: dict[str, list[int]] = {}
        for index, record in enumerate(self.records):
            by_label.setdefault(record.label, []).append(index)
        return dict(sorted(by_label.items()))

    def subset(self, labels: Iterable[str]) -> "ImageDataset":
        keep = set(labels)
        return ImageDataset([r for r in self.records if r.label in keep], self.root, [])


def listing_sha256(dataset: ImageDataset) -> str:
    """Identifies a dataset by content, wherever it lies: each image's path relative to the
    dataset's root, with its label. A moved or copied dataset keeps it; adding, removing,
    renaming or relabelling an image changes it."""
    lines = sorted(f"{os.path.relpath(r.path, dataset.root)}\t{r.label}" for r in dataset.records)
    return hashlib.sha256("\n".join(lines).encode("utf-8", "surrogateescape")).hexdigest()  # non-UTF-8 file names too


def _drop_unreadable(records: Sequence[ImageRecord], workers: int) -> tuple[list[ImageRecord], list[str]]:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        reasons = list(pool.map(check_image, [record.path for record in records]))
    kept = [record for record, reason in zip(records, reasons) if reason is None]
    skipped = [reason for reason in reasons if reason is not None]
    return kept, skipped


def scan_dataset(
    source: str | os.PathLike, verify: bool = True, workers: int = 4, reader: str | None = None
) -> ImageDataset:
    """Find every image and its identity in ``source``: a folder of identity folders, a
    ``path,label`` CSV (optional ``group`` and ``split`` columns), a folder of MNIST-style IDX
    files, or whatever a registered reader detects (``reader`` names one and skips detection).

    With ``verify`` each image is decoded once so a corrupt file is skipped now, with its name
    in the log, rather than crashing a data-loader worker halfway through an epoch.
    """
    path = Path(os.path.abspath(source))  # absolute, so split.json paths match on resume/evaluation
    name, chosen = pick_reader(path, reader)
    records = chosen.records(path)
    root = chosen.root(path)
    verify = verify and chosen.one_file_per_image
    if not records:
        raise SiamkitError(f"{path}: no image files found (looked for {_LOOKED_FOR} ...)")
    skipped: list[str] = []
    if verify:
        records, skipped = _drop_unreadable(records, workers)
        if skipped:
            log.warning("skipped %d unreadable file(s): %s", len(skipped), "; ".join(skipped))
    if not records:
        raise SiamkitError(f"{path}: none of the image files could be decoded")
    return ImageDataset(records, str(root), skipped)


def pick_reader(path: Path, name: str | None = None):
    """``(name, reader)`` for an existing ``path``: the named reader, or the first that detects it."""
    if not path.exists():
        raise SiamkitError(f"{path}: dataset not found")
    if name is not None:
        return name, get_reader(name)
    found = find_reader(path)
    if found is None:
        raise SiamkitError(
            f"{path}: no dataset reader recognises this file; a dataset is a folder of identity folders, "
            f"a .csv file or a folder of IDX files (readers: {', '.join(reader_order())})"
        )
    return found
