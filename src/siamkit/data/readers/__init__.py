"""Dataset readers: how siamkit finds images and identities in whatever a user points at.

Every reader is one entry of :data:`READERS` and answers two questions: does it recognise this
input (``detect``), and which images with which labels does it hold (``records``). Training,
evaluation, ``siamkit embed`` and ``siamkit index`` all list their input through
:func:`find_reader`, so a format that trains can also be embedded and indexed.

Readers are asked in order of their ``priority`` (higher first; equal priorities in the order
they were registered), and the first that detects the input lists it:

- readers registered from user code (priority 0 unless given),
- ``idx``    (-10): a folder of MNIST-style IDX files,
- ``csv``    (-20): a ``.csv`` file of ``path,label[,group,split]``,
- ``folder`` (-100): any folder; a leaf folder of images is an identity, its parent a group.
"""

from __future__ import annotations

from pathlib import Path

from siamkit.data.readers.base import READERS, DatasetReader
from siamkit.data.readers import csv_listing, folder, idx_files  # noqa: F401  (registers the built-ins)
from siamkit.data.readers.folder import image_folders

__all__ = ["READERS", "DatasetReader", "find_reader", "get_reader", "image_folders", "reader_order"]


def reader_order() -> list[str]:
    """Reader names in the order they are asked to detect an input."""
    names = READERS.names()
    return sorted(names, key=lambda name: -float(READERS.metadata(name)["priority"]))


def get_reader(name: str) -> DatasetReader:
    """The reader registered as ``name`` (did-you-mean error for an unknown name)."""
    return READERS.get(name)()


def find_reader(path: Path) -> tuple[str, DatasetReader] | None:
    """The first reader (in :func:`reader_order`) that detects ``path``, or None."""
    for name in reader_order():
        reader = get_reader(name)
        if reader.detect(path):
            return name, reader
    return None
