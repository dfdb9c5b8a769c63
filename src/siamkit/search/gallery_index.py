"""A searchable gallery: FAISS vectors plus the path, label and content hash of every image.

The index never sees images or models. Callers embed with the model and pass the embeddings in,
together with ``model_id``, a string derived from the model's config and weights. The index
keeps that id because embeddings from two models live in unrelated spaces: searching a gallery
embedded by last week's checkpoint with today's model returns confident nonsense, so
:meth:`GalleryIndex.check_model` turns it into an error that says "re-index".

Galleries grow. :meth:`GalleryIndex.stale` compares the indexed content hashes with the files
on disk, so re-indexing embeds only new or changed images; :meth:`add` and :meth:`remove`
update the index in place without a rebuild, for every kind (see ``faiss_backends``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence, Union

import faiss
import numpy as np

from siamkit.distances import cosine_to_distance, cosine_to_similarity
from siamkit.errors import SiamkitError
from siamkit.search.faiss_backends import create_backend, restore_backend
from siamkit.search.gallery_items import GalleryItems, as_path_list
from siamkit.search.index_file import read_index_file, write_index_file
from siamkit.search.unit_vectors import as_unit_vectors

PathLike = Union[str, os.PathLike]


class GalleryIndex:
    """Nearest-neighbour search over L2-normalised image embeddings, ranked by cosine.

    Build with :meth:`build` or read with :meth:`load`; the constructor is internal.
    """

    def __init__(self, backend, items: GalleryItems, model_id: str, embedding_dim: int, file: PathLike | None = None):
        self._backend = backend
        self._items = items
        self.model_id = model_id
        self.embedding_dim = embedding_dim
        self.file = Path(file) if file is not None else None

    # ----------------------------------------------------------------- building and files

    @classmethod
    def build(
        cls,
        embeddings,
        paths: Sequence[PathLike],
        labels: Sequence,
        content_hashes: Sequence[str],
        model_id: str,
        kind: str = "exact",
        **params,
    ) -> "GalleryIndex":
        """Index a gallery. ``kind`` is "exact", "hnsw" (m, ef_construction, ef_search) or
        "ivf" (nlist, nprobe); IVF falls back to exact, with a warning, for tiny galleries."""
        where = "gallery"
        if not isinstance(model_id, str) or not model_id:
            raise SiamkitError(f"{where}: model_id must be a non-empty string identifying the model")
        vectors = as_unit_vectors(embeddings, None, where)
        if len(vectors) == 0:
            raise SiamkitError(f"{where}: no embeddings given; a gallery index needs at least one image")
        items = GalleryItems()
        ids = items.allocate(*GalleryItems.validate(len(vectors), paths, labels, content_hashes, where))
        backend = create_backend(kind, vectors.shape[1], vectors, ids, **params)
        return cls(backend, items, model_id, int(vectors.shape[1]))

    def save(self, path: PathLike) -> None:
        """Write the index to one file, atomically (see ``index_file`` for the layout)."""
        metadata = {
            "model_id": self.model_id,
            "embedding_dim": self.embedding_dim,
            "kind": self.kind,
            "backend": self._backend.state(),
            "items": self._items.to_json(),
        }
        try:
            write_index_file(path, metadata, faiss.serialize_index(self._backend.index))
        except OSError as error:
            raise SiamkitError(f"cannot write index {path}: {error.strerror or error}") from None
        self.file = Path(path)

    @classmethod
    def load(cls, path: PathLike) -> "GalleryIndex":
        """Read an index written by :meth:`save`; damaged or foreign files raise SiamkitError."""
        metadata, index_bytes = read_index_file(path)
        try:
            items = GalleryItems.from_json(metadata["items"])
            backend = restore_backend(metadata["kind"], index_bytes, metadata["backend"])
            index = cls(backend, items, str(metadata["model_id"]), int(metadata["embedding_dim"]), path)
            consistent = (
                backend.index.d == index.embedding_dim
                and backend.ntotal - len(backend.tombstones) == len(items)
            )
        except (AttributeError, KeyError, TypeError, ValueError, RuntimeError):
            consistent = False
        if not consistent:
            raise SiamkitError(f"index {path} is internally inconsistent; rebuild it")
        return index

    # ----------------------------------------------------------------- what is indexed

    @property
    def kind(self) -> str:
        """Index kind: exact, hnsw or ivf (an IVF request on a tiny gallery reports exact)."""
        return self._backend.kind

    @property
    def faiss_index(self):
        """The underlying FAISS index, for measuring and inspecting. Changing it directly puts
        it out of step with the item table; use :meth:`add` and :meth:`remove` instead."""
        return self._backend.index

    @property
    def search_params(self) -> dict:
        return dict(self._backend.params)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"GalleryIndex({self._name}, kind={self.kind}, items={len(self)}, model_id={self.model_id!r})"

    @property
    def ids(self) -> list[int]:
        return self._items.ids

    @property
    def paths(self) -> list[str]:
        return self._items.paths

    @property
    def labels(self) -> list[str]:
        return self._items.labels

    def get(self, item_id: int) -> dict | None:
        """``{"id", "path", "label", "content_hash"}`` of a live item, None if unknown or removed."""
        return self._items.get(item_id)

    @property
    def _name(self) -> str:
        return str(self.file) if self.file is not None else "(unsaved gallery index)"

    def check_model(self, model_id: str) -> None:
        """Refuse to mix embedding spaces: the query model must be the one the index was built with."""
        if model_id != self.model_id:
            raise SiamkitError(
                f"index {self._name} was built with model {self.model_id}, not {model_id}; re-index"
            )

    # ----------------------------------------------------------------- searching

    def search(self, query_embeddings, k: int = 10, model_id: str | None = None) -> list[list[dict]]:
        """Top-``k`` gallery items per query, best first.

        Each hit is ``{"id", "path", "label", "distance", "similarity"}`` with ``distance`` the
        Euclidean distance between unit vectors, sqrt(2 - 2 cos), and ``similarity`` = (1 + cos) / 2
        in [0, 1]. ``k`` larger than the gallery returns every item. Pass ``model_id`` to have
        :meth:`check_model` run first.
        """
        if model_id is not None:
            self.check_model(model_id)
        if len(self) == 0:
            raise SiamkitError(f"index {self._name} is empty; add images to the gallery before searching")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise SiamkitError(f"k must be a positive whole number of results, got {k!r}")
        queries = self._query_vectors(query_embeddings)
        want = min(int(k), len(self))
        if want == len(self):
            cosine, ids = self._backend.search_exhaustive(queries, want)
        else:
            cosine, ids = self._backend.search(queries, want)
            # Approximate kinds can come back short (IVF lists probed held fewer than k items);
            # the contract is min(k, len) hits, so those queries are answered exactly.
            short = (ids >= 0).sum(axis=1) < want
            if short.any():
                cosine[short], ids[short] = self._backend.search_exhaustive(queries[short], want)
        return [self._hits(row_cosine, row_ids) for row_cosine, row_ids in zip(cosine, ids)]

    def _query_vectors(self, query_embeddings) -> np.ndarray:
        """The queries as unit vectors; an image path (or image) here is a one-line error that says what to call."""
        try:
            return as_unit_vectors(query_embeddings, self.embedding_dim, f"index {self._name}")
        except (TypeError, ValueError):  # numpy could not read numbers from it: a path, bytes, a PIL image
            raise SiamkitError(
                f"index {self._name}: GalleryIndex.search takes embeddings, got {type(query_embeddings).__name__}; "
                "to search with images use model.search(index, images) or model.bind(index).search(images)"
            ) from None

    def _hits(self, cosine: np.ndarray, ids: np.ndarray) -> list[dict]:
        return search_hits(cosine, ids, self._items.hit)

    def set_search_params(self, **params) -> None:
        """Trade speed for recall after building: ``ef_search`` (hnsw) or ``nprobe`` (ivf)."""
        self._backend.set_search_params(**params)

    # ----------------------------------------------------------------- keeping it current

    def add(self, embeddings, paths: Sequence[PathLike], labels: Sequence, content_hashes: Sequence[str]) -> list[int]:
        """Index more images without a rebuild; a path already indexed is replaced (new id).

        Returns the new ids. The whole batch is validated before the index changes.
        """
        where = f"index {self._name}"
        vectors = as_unit_vectors(embeddings, self.embedding_dim, where)
        paths, labels, content_hashes = GalleryItems.validate(len(vectors), paths, labels, content_hashes, where)
        if len(vectors) == 0:
            return []
        self.remove([path for path in paths if path in self._items])
        ids = self._items.allocate(paths, labels, content_hashes)
        self._backend.add(vectors, ids)
        return ids.tolist()

    def remove(self, paths: Union[PathLike, Sequence[PathLike]]) -> int:
        """Drop images by path without a rebuild; unknown paths are ignored. Returns how many went."""
        ids = [self._items.id_of(path) for path in as_path_list(paths)]
        ids = sorted({item_id for item_id in ids if item_id is not None})
        if ids:
            self._backend.remove(np.asarray(ids, dtype=np.int64))
            self._items.remove_ids(ids)
        return len(ids)

    def stale(self, paths_with_hashes: Mapping[PathLike, str]) -> tuple[list[str], list[str]]:
        """Compare the gallery on disk (``{path: content hash}``) with what is indexed.

        Returns ``(to_embed, to_remove)``: paths that are new or whose bytes changed (embed them
        and :meth:`add`, which replaces the old entries), and indexed paths that no longer exist
        (:meth:`remove` them). Paths must be spelled as they were when indexed.
        """
        current = {os.fspath(path): str(content_hash).lower() for path, content_hash in paths_with_hashes.items()}
        to_embed = [path for path, content_hash in current.items() if self._items.hash_of(path) != content_hash]
        to_remove = [path for path in self._items.paths if path not in current]
        return to_embed, to_remove


def search_hits(cosine: np.ndarray, ids: np.ndarray, item_of) -> list[dict]:
    """One query's hit dicts (``id``, ``path``, ``label``, ``distance``, ``similarity``), best
    first, from FAISS's cosines and ids; ``item_of(id)`` gives ``(path, label)``, or None for an
    id that is gone (or FAISS's -1 for no result). Shared by every gallery that searches."""
    distance, similarity = cosine_to_distance(cosine), cosine_to_similarity(cosine)
    hits = []
    for position, item_id in enumerate(ids.tolist()):
        item = item_of(item_id) if item_id >= 0 else None
        if item is not None:
            hits.append(
                {
                    "id": item_id,
                    "path": item[0],
                    "label": item[1],
                    "distance": float(distance[position]),
                    "similarity": float(similarity[position]),
                }
            )
    return hits
