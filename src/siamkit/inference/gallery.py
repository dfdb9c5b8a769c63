"""From a folder of images to a searchable :class:`GalleryIndex`, and searching it with images.

The index (``siamkit.search``) only knows vectors; this module is the glue to a model: it finds
the gallery's images and their labels (the leaf folder, as the dataset scanner names
identities), hashes their bytes, embeds what is new or changed and keeps the index in step.
:class:`BoundGalleryIndex` is a GalleryIndex that remembers the model that embedded it, so a
query can be an image (path, bytes, PIL image or array) rather than an embedding.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
from PIL import Image

from siamkit.data.images import ImageInput, is_image_file
from siamkit.errors import SiamkitError
from siamkit.search import GalleryIndex, content_hash

if TYPE_CHECKING:
    from siamkit.inference.siamese_model import SiameseModel

log = logging.getLogger("siamkit")

_SINGLE_IMAGE = (str, os.PathLike, bytes, bytearray, memoryview, Image.Image)


def gallery_images(source: str | os.PathLike | Sequence[str | os.PathLike]) -> list[tuple[str, str]]:
    """``(absolute path, label)`` of every image under a folder, or of a list of image files.

    The label is the image's folder relative to the gallery folder (``""`` for images directly
    in it); for a list of files it is the name of each file's folder.
    """
    if isinstance(source, (str, os.PathLike)):
        root = Path(os.path.abspath(source))
        if root.is_dir():
            return _walk(root)
        if not root.exists():
            raise SiamkitError(f"{root}: gallery folder not found")
        sources = [root]
    else:
        sources = [Path(os.path.abspath(path)) for path in source]
    missing = [path for path in sources if not path.is_file()]
    if missing:
        raise SiamkitError(f"{missing[0]}: gallery image not found")
    return [(str(path), path.parent.name) for path in sources]


def _walk(root: Path) -> list[tuple[str, str]]:
    """Every image under ``root`` with its label: the folder it is in, relative to ``root``."""
    from siamkit.data.dataset import image_folders

    found = []
    for folder, images in image_folders(root):
        label = folder.relative_to(root).as_posix()
        found.extend((str(path), "" if label == "." else label) for path in images)
    # Hashing opens every file: a FIFO named x.jpg would block forever, so only regular files count.
    regular = [(path, label) for path, label in found if os.path.isfile(path)]
    if len(regular) < len(found):
        others = [path for path, _ in found if not os.path.isfile(path)]
        log.warning("skipped %d entries that are not regular files: %s", len(others), "; ".join(others[:5]))
    if not regular:
        raise SiamkitError(f"{root}: no image files found in the gallery")
    return regular


def hash_files(paths: Sequence[str], workers: int = 4) -> list[str]:
    """sha256 of each file's bytes (hashlib releases the GIL, so threads overlap reading)."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(content_hash, paths))


def build_gallery_index(
    model: "SiameseModel",
    source,
    kind: str | None = None,
    existing: GalleryIndex | None = None,
    progress: bool = False,
    images: list[tuple[str, str]] | None = None,
    **params,
) -> "BoundGalleryIndex":
    """Index every image of ``source``; with ``existing``, embed only new or changed files.

    Images that cannot be decoded are left out with one warning (as the dataset scanner does).
    ``existing`` is updated in place only after all embedding succeeded. ``images`` is
    ``gallery_images(source)`` when the caller has listed the gallery already.
    """
    images = images if images is not None else gallery_images(source)
    paths = [path for path, _ in images]
    label_of = dict(images)
    hashes = hash_files(paths)
    hash_of = dict(zip(paths, hashes))
    if existing is not None:
        existing.check_model(model.model_id)
        if kind is not None and kind != existing.kind:
            name = existing.file if existing.file is not None else "(unsaved)"
            raise SiamkitError(f"index {name} is of kind {existing.kind}, not {kind}; rebuild it (without --update) to change the kind")
        to_embed, to_remove = existing.stale(hash_of)
    else:
        to_embed, to_remove = paths, []

    embedded = model.embed_readable(to_embed, progress=progress, description="indexing") if to_embed else None
    if embedded is not None and embedded.errors:
        reasons = list(embedded.errors.values())
        log.warning("skipped %d unreadable image(s): %s", len(reasons), "; ".join(reasons[:5]) + (" ..." if len(reasons) > 5 else ""))
    done = [to_embed[position] for position in embedded.positions] if embedded is not None else []
    vectors = embedded.embeddings if embedded is not None else np.zeros((0, model.embedding_dim), np.float32)
    labels = [label_of[path] for path in done]
    done_hashes = [hash_of[path] for path in done]

    if existing is None:
        if not done:
            raise SiamkitError(f"{source}: none of the gallery's {len(paths)} image(s) could be decoded")
        index = GalleryIndex.build(vectors, done, labels, done_hashes, model.model_id, kind=kind or "exact", **params)
    else:
        index = existing
        # A changed file that no longer decodes must not keep answering with its old pixels.
        unreadable = [to_embed[position] for position in (embedded.errors if embedded is not None else {})]
        index.remove(list(to_remove) + unreadable)
        index.add(vectors, done, labels, done_hashes)
    bound = BoundGalleryIndex.bind(index, model)
    bound.update_counts = {"embedded": len(done), "removed": len(to_remove), "unchanged": len(paths) - len(to_embed)}
    return bound


def is_image_query(query) -> bool:
    """True for one image (path, bytes, PIL image, array with pixels), False for embeddings."""
    if isinstance(query, _SINGLE_IMAGE):
        return True
    if isinstance(query, np.ndarray):
        # Embeddings are float (n, D) or (D,); images are HxWxC, or integer HxW.
        return query.ndim == 3 or (query.ndim == 2 and query.dtype.kind in "ub")
    return False


class BoundGalleryIndex(GalleryIndex):
    """A :class:`GalleryIndex` bound to the :class:`SiameseModel` that embedded it.

    ``search`` also takes images: one image gives one list of hits, a list of images one list
    per image. Embeddings are searched as by ``GalleryIndex.search``. It is a view: it shares
    the FAISS index and item table with the index it was bound from.
    """

    model: "SiameseModel | None" = None
    update_counts: dict | None = None

    @classmethod
    def bind(cls, index: GalleryIndex, model: "SiameseModel") -> "BoundGalleryIndex":
        index.check_model(model.model_id)
        bound = cls.__new__(cls)
        bound.__dict__.update(vars(index))
        bound.model = model
        return bound

    @classmethod
    def load(cls, path, model: "SiameseModel | None" = None) -> "GalleryIndex":
        index = GalleryIndex.load(path)
        return cls.bind(index, model) if model is not None else index

    def search(self, queries, k: int = 10, model_id: str | None = None):
        if is_image_query(queries):
            return self.search_images([queries], k)[0]
        if isinstance(queries, (list, tuple)) and queries and all(is_image_query(query) for query in queries):
            return self.search_images(list(queries), k)
        return super().search(queries, k, model_id)

    def search_images(self, images: Sequence[ImageInput], k: int = 10) -> list[list[dict]]:
        """Top-``k`` hits ``{id, path, label, distance, similarity}`` for each query image."""
        if self.model is None:
            raise SiamkitError("this index is not bound to a model; use model.search(index, query) or model.bind(index)")
        return super().search(self.model.embed(list(images)), k, model_id=self.model.model_id)
