"""A folder of identity folders: ``root/identity/image.jpg``.

An identity is a *leaf* folder of images, so both ``faces/alice/1.jpg`` and Omniglot's
``background/Greek/character01/1.png`` work; the folder above the leaf is kept as the identity's
``group`` (Omniglot's alphabet), which the one-shot evaluation uses for within-alphabet episodes.
"""

from __future__ import annotations

import os
from pathlib import Path

from siamkit.data.images import is_image_file
from siamkit.data.readers.base import READERS, DatasetReader
from siamkit.data.records import ImageRecord
from siamkit.errors import SiamkitError


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


def _label_and_group(leaf: Path, root: Path) -> tuple[str, str]:
    relative = leaf.relative_to(root)
    if relative == Path("."):
        return "", ""
    group = relative.parent.as_posix() if relative.parent != Path(".") else ""
    return relative.as_posix(), group


# Asked last: any folder is a folder of identity folders, so more specific readers go first.
@READERS.register("folder", priority=-100, description="root/identity/image.jpg (leaf folder = identity, parent = group)")
class FolderReader(DatasetReader):
    def detect(self, path: Path) -> bool:
        return path.is_dir()

    def records(self, path: Path) -> list[ImageRecord]:
        records = self.gallery_records(path)
        if any(record.label == "" for record in records):
            raise SiamkitError(
                f"{path}: images lie directly in the dataset folder; put each identity's images in "
                "its own subfolder (root/identity/image.jpg)"
            )
        return records

    def gallery_records(self, path: Path) -> list[ImageRecord]:
        # A gallery may hold unlabelled images directly in its folder (label "").
        records = []
        for leaf, images in image_folders(path):
            label, group = _label_and_group(leaf, path)
            records.extend(ImageRecord(str(image), label, group) for image in images)
        return records
