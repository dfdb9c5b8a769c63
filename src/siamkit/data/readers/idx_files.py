"""A folder of MNIST-style IDX files (see :mod:`siamkit.data.idx`): virtual paths ``file#index``."""

from __future__ import annotations

from pathlib import Path

from siamkit.data.idx import idx_items, is_idx_folder
from siamkit.data.readers.base import READERS, DatasetReader
from siamkit.data.records import ImageRecord


@READERS.register("idx", priority=-10, description="a folder of MNIST-style *-images-idx3-ubyte[.gz] files")
class IdxReader(DatasetReader):
    one_file_per_image = False  # decoded from a checked array: nothing to skip

    def detect(self, path: Path) -> bool:
        return is_idx_folder(path)

    def records(self, path: Path) -> list[ImageRecord]:
        return [ImageRecord(item, label, "", split) for item, label, split in idx_items(path)]
