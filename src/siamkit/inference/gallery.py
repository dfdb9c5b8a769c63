"""From a gallery of images to a searchable :class:`GalleryIndex`, and searching it with images.

The index (``siamkit.search``) only knows vectors; this module is the glue to a model: it finds
the gallery's images and their labels through the same dataset readers training uses (a folder,
a CSV listing, IDX files or a user's reader), hashes their bytes, embeds what is new or changed and keeps the index in step.
:class:`BoundGalleryIndex` is a GalleryIndex that remembers the model that embedded it, so a
query can be an image (path, bytes, PIL image or array) rather than an embedding.
"""

from __future__ import annotations

import hashlib
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
from PIL import Image

from siamkit.data.images import ImageDecodeError, ImageInput, load_image
from siamkit.errors import SiamkitError
from siamkit.search import GalleryIndex, content_hash

if TYPE_CHECKING:
    from siamkit.inference.siamese_model import SiameseModel

log = logging.getLogger("siamkit")

_SINGLE_IMAGE = (str, os.PathLike, bytes, bytearray, memoryview, Image.Image)


def gallery_images(source: str | os.PathLike | Sequence[str | os.PathLike]) -> list[tuple[str, str]]:
    """``(absolute path, label)`` of every image of a gallery, or of a list of image files.

    A gallery is anything a dataset reader detects (:mod:`siamkit.data.readers`): a folder
    (label = the image's folder relative to it, ``""`` for images directly in it), a CSV
    listing, a folder of IDX files (paths ``file#index``) or a reader registered from user code.
    For a list of files (or one image file) the label is the name of each file's folder.
    """
    if isinstance(source, (str, os.PathLike)):
        listed = read_gallery(source)
        if listed is not None:
            return listed[1]
        sources = [Path(os.path.abspath(source))]
    else:
        sources = [Path(os.path.abspath(path)) for path in source]
    missing = [path for path in sources if not path.is_file()]
    if missing:
        raise SiamkitError(f"{missing[0]}: gallery image not found")
    return [(str(path), path.parent.name) for path in sources]


def read_gallery(source: str | os.PathLike) -> tuple[str, list[tuple[str, str]]] | None:
    """``(root, [(path, label), ...])`` of a gallery dataset, or None for a file no reader takes.

    ``root`` is the folder the images are listed relative to (shards name images by their path
    relative to it): the reader's root, or the folder the images have in common when a listing
    points outside its own folder.
    """
    from siamkit.data.readers import find_reader

    path = Path(os.path.abspath(source))
    if not path.exists():
        raise SiamkitError(f"{path}: gallery folder not found")
    found = find_reader(path)
    if found is None:
        return None
    _, reader = found
    images = [(record.path, record.label) for record in reader.gallery_records(path)]
    if reader.one_file_per_image:
        images = _regular_files(images)
    if not images:
        raise SiamkitError(f"{path}: no image files found in the gallery")
    root = str(reader.root(path))
    if any(not _is_under(image, root) for image, _ in images):
        root = os.path.commonpath([root] + [os.path.dirname(image) for image, _ in images])
    return root, images


def _is_under(path: str, root: str) -> bool:
    return os.path.commonpath([path, root]) == root


def _regular_files(found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    # Hashing opens every file: a FIFO named x.jpg would block forever, so only regular files count.
    regular = [(path, label) for path, label in found if os.path.isfile(path)]
    if len(regular) < len(found):
        others = [path for path, _ in found if not os.path.isfile(path)]
        log.warning("skipped %d entries that are not regular files: %s", len(others), "; ".join(others[:5]))
    return regular


def image_content_hash(path: str) -> str:
    """sha256 of a file's bytes; for a virtual path (IDX ``file#index``), of its decoded pixels."""
    if os.path.isfile(path):
        return content_hash(path)
    digest = hashlib.sha256(b"pixels\0")
    try:
        image = load_image(path)
    except ImageDecodeError:  # left for the embedder to skip, with its reason
        digest.update(b"unreadable\0" + path.encode("utf-8", "surrogateescape"))
        return digest.hexdigest()
    digest.update(f"{image.mode} {image.size}\0".encode() + image.tobytes())
    return digest.hexdigest()


def hash_files(paths: Sequence[str], workers: int = 4) -> list[str]:
    """Content hash of each image (hashlib releases the GIL, so threads overlap reading)."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(image_content_hash, paths))


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
