"""The reader contract and the ``READERS`` registry (see :mod:`siamkit.data.readers`)."""

from __future__ import annotations

from pathlib import Path

from siamkit.data.records import ImageRecord
from siamkit.registry import Registry

# name -> a DatasetReader subclass (or a function returning a reader); ``priority``: higher is
# asked first (see siamkit.data.readers); ``description`` is what the reader accepts, for help.
READERS = Registry("dataset reader", defaults={"priority": 0, "description": ""})


class DatasetReader:
    """Finds the images and identities of one kind of dataset.

    Subclass it, fill in :meth:`detect` and :meth:`records`, and register it::

        @READERS.register("jsonl")
        class JsonLinesReader(DatasetReader):
            def detect(self, path): return path.suffix == ".jsonl"
            def records(self, path): ...

    Training, evaluation, ``siamkit embed`` and ``siamkit index`` then all accept that input.
    """

    # False where paths are virtual (IDX ``file#index``): decoded from a checked array, so
    # there is nothing to decode-check while scanning, and no file to open on its own.
    one_file_per_image = True

    def detect(self, path: Path) -> bool:
        """True if ``path`` (absolute; it exists) is a dataset this reader lists."""
        raise NotImplementedError

    def records(self, path: Path) -> list[ImageRecord]:
        """Every image of the dataset with its label (``group`` and ``split`` when known)."""
        raise NotImplementedError

    def root(self, path: Path) -> Path:
        """The folder image paths are relative to: the dataset folder, or a listing's folder."""
        return path if path.is_dir() else path.parent

    def gallery_records(self, path: Path) -> list[ImageRecord]:
        """The images of a search gallery; a gallery may be more lenient than a training set
        (the folder reader accepts unlabelled images lying directly in the gallery folder)."""
        return self.records(path)
