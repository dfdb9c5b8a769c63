"""Finding the images and their identities in a user's folder or CSV file.

An identity is a *leaf* folder of images, so both ``faces/alice/1.jpg`` and Omniglot's
``background/Greek/character01/1.png`` work; the folder above the leaf is kept as the identity's
``group`` (Omniglot's alphabet), which the one-shot evaluation uses for within-alphabet episodes.
Files that cannot be decoded are skipped and reported in one warning line, because one bad JPEG
in ten thousand should not cost a user their training run.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from siamkit.data.idx import is_idx_folder
from siamkit.data.images import check_image, is_image_file
from siamkit.errors import SiamkitError

log = logging.getLogger("siamkit")


@dataclass(frozen=True)
class ImageRecord:
    """One image; ``group`` is the folder above the identity (an alphabet), ``split`` the part
    of a dataset's own official split (train/val/test) when it comes with one."""

    path: str
    label: str
    group: str = ""
    split: str = ""


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


def image_folders(root: Path) -> list[tuple[Path, list[Path]]]:
    """Every folder under ``root`` that directly holds image files, with those files sorted."""
    leaves = []
    seen_real: set[str] = set()
    for folder, subfolders, files in os.walk(root, followlinks=True, onerror=None):
        real = os.path.realpath(folder)
        if real in seen_real:  # a symlink loop: visit each real folder once
            subfolders[:] = []
            continue
        seen_real.add(real)
        subfolders.sort()
        images = sorted(Path(folder) / name for name in files if is_image_file(name))
        if images:
            leaves.append((Path(folder), images))
    return leaves


def _label_of(leaf: Path, root: Path) -> tuple[str, str]:
    relative = leaf.relative_to(root)
    if relative == Path("."):
        raise SiamkitError(
            f"{root}: images lie directly in the dataset folder; put each identity's images in "
            "its own subfolder (root/identity/image.jpg)"
        )
    label = relative.as_posix()
    group = relative.parent.as_posix() if relative.parent != Path(".") else ""
    return label, group


def _records_from_folder(root: Path) -> list[ImageRecord]:
    records = []
    for leaf, images in image_folders(root):
        label, group = _label_of(leaf, root)
        records.extend(ImageRecord(str(path), label, group) for path in images)
    return records


def _records_from_csv(csv_path: Path) -> list[ImageRecord]:
    base = csv_path.parent
    try:
        with open(csv_path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            columns = set(reader.fieldnames or [])
            if not {"path", "label"} <= columns:
                raise SiamkitError(f"{csv_path}: CSV needs 'path' and 'label' columns, found {sorted(columns)}")
            records = []
            first_row: dict[str, int] = {}  # image path -> the line that listed it first
            for row_number, row in enumerate(reader, start=2):
                if not row.get("path") or not row.get("label"):
                    raise SiamkitError(f"{csv_path}: line {row_number} has an empty path or label")
                path = Path(row["path"])
                path = os.path.normpath(path if path.is_absolute() else base / path)
                split = (row.get("split") or "").strip().lower()
                if split not in ("", "train", "val", "test"):
                    raise SiamkitError(f"{csv_path}: line {row_number}: split '{row['split']}' is not train, val or test")
                if path in first_row:
                    _refuse_duplicate(csv_path, records[first_row[path] - 2], first_row[path], row, row_number)
                first_row[path] = row_number
                records.append(ImageRecord(path, row["label"], row.get("group") or "", split))
            return records
    except UnicodeDecodeError:
        raise SiamkitError(f"{csv_path}: not a UTF-8 text CSV file") from None
    except csv.Error as exc:
        raise SiamkitError(f"{csv_path}: malformed CSV ({exc})") from None


def _refuse_duplicate(csv_path: Path, first: ImageRecord, first_line: int, row: dict, line: int) -> None:
    """One image listed twice makes a positive pair of a file with itself (distance 0); under two
    labels it is one identity's picture in two identities, which a split can put apart."""
    if row["label"] == first.label:
        raise SiamkitError(f"{csv_path}: lines {first_line} and {line} list the same image {row['path']}; list each image once")
    raise SiamkitError(
        f"{csv_path}: lines {first_line} and {line} list the same image {row['path']} under two labels "
        f"('{first.label}' and '{row['label']}'); an image belongs to one identity"
    )


def _drop_unreadable(records: Sequence[ImageRecord], workers: int) -> tuple[list[ImageRecord], list[str]]:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        reasons = list(pool.map(check_image, [record.path for record in records]))
    kept = [record for record, reason in zip(records, reasons) if reason is None]
    skipped = [reason for reason in reasons if reason is not None]
    return kept, skipped


def _records_from_idx(folder: Path) -> list[ImageRecord]:
    from siamkit.data.idx import idx_items

    return [ImageRecord(path, label, "", split) for path, label, split in idx_items(folder)]


def scan_dataset(source: str | os.PathLike, verify: bool = True, workers: int = 4) -> ImageDataset:
    """Find every image and its identity under a folder (or listed in a ``path,label`` CSV, with
    optional ``group`` and ``split`` columns, or stored as MNIST-style IDX files).

    With ``verify`` each image is decoded once so a corrupt file is skipped now, with its name
    in the log, rather than crashing a data-loader worker halfway through an epoch.
    """
    path = Path(os.path.abspath(source))  # absolute, so split.json paths match on resume/evaluation
    if not path.exists():
        raise SiamkitError(f"{path}: dataset not found")
    if path.is_file():
        if path.suffix.lower() != ".csv":
            raise SiamkitError(f"{path}: a dataset is a folder of identity folders or a .csv file")
        records = _records_from_csv(path)
        root = path.parent
    elif is_idx_folder(path):
        records = _records_from_idx(path)
        root = path
        verify = False  # decoded from a checked array: nothing to skip
    else:
        records = _records_from_folder(path)
        root = path
    if not records:
        raise SiamkitError(f"{path}: no image files found (looked for {', '.join(sorted({'.jpg', '.png', '.pgm', '.bmp', '.webp', '.tif'}))} ...)")
    skipped: list[str] = []
    if verify:
        records, skipped = _drop_unreadable(records, workers)
        if skipped:
            log.warning("skipped %d unreadable file(s): %s", len(skipped), "; ".join(skipped))
    if not records:
        raise SiamkitError(f"{path}: none of the image files could be decoded")
    return ImageDataset(records, str(root), skipped)
