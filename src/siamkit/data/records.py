"""One labelled image, as every dataset reader lists it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ImageRecord:
    """One image; ``group`` is the folder above the identity (an alphabet), ``split`` the part
    of a dataset's own official split (train/val/test) when it comes with one.

    ``path`` is whatever :func:`siamkit.data.images.load_image` decodes: a file, or a virtual
    path such as IDX's ``<images file>#<index>``.
    """

    path: str
    label: str
    group: str = ""
    split: str = ""
