"""Choosing and restoring the FAISS index behind a gallery.

Three kinds share one small interface (``add``, ``remove``, ``search``, ``search_exhaustive``,
``set_search_params``, ``state``, ``ntotal``, ``tombstones``, ``index``), all storing unit vectors
under caller-chosen int64 ids and ranking by inner product (= cosine):

* ``exact`` (``exact_backend``): scans everything; best up to ~100k images.
* ``hnsw`` (``hnsw_backend``): a graph; fastest queries, removal by tombstones.
* ``ivf`` (``ivf_backend``): inverted lists; quick to build, native removal.

``search_exhaustive`` answers exactly for every kind; the gallery uses it when a caller wants
every item, or when an approximate search found fewer hits than asked for.
"""

from __future__ import annotations

import faiss
import numpy as np

from siamkit.errors import SiamkitError
from siamkit.search.exact_backend import ExactBackend
from siamkit.search.hnsw_backend import HnswBackend
from siamkit.search.ivf_backend import IvfBackend

BACKENDS = {"exact": ExactBackend, "hnsw": HnswBackend, "ivf": IvfBackend}
KINDS = tuple(BACKENDS)
# What ``faiss.deserialize_index`` must return for each kind; anything else is a forged file.
_STORED_CLASS = {"exact": faiss.IndexIDMap2, "hnsw": faiss.IndexIDMap2, "ivf": faiss.IndexIVFFlat}


def create_backend(kind: str, dim: int, vectors: np.ndarray, ids: np.ndarray, **params):
    """Build a backend of ``kind`` holding ``vectors`` under ``ids`` (IVF may fall back to exact)."""
    if kind not in BACKENDS:
        raise SiamkitError(f"unknown index kind {kind!r}; choose one of {', '.join(KINDS)}")
    return BACKENDS[kind].create(dim, vectors, ids, **params)


def restore_backend(kind: str, index_bytes: np.ndarray, state: dict):
    """Rebuild a backend from ``faiss.serialize_index`` bytes and its saved ``state()``.

    Raises ValueError, KeyError or RuntimeError on inconsistent input; the caller words it.
    """
    # deserialize_index already returns the concrete class; downcasting it again would make a
    # second, non-owning wrapper and the index would be freed along with the first.
    index = faiss.deserialize_index(index_bytes)
    if kind not in _STORED_CLASS or type(index) is not _STORED_CLASS[kind]:
        raise ValueError(f"index kind {kind!r} does not match the stored {type(index).__name__}")
    if kind == "exact":
        return ExactBackend(index, state["params"])
    if kind == "ivf":
        return IvfBackend(index, state["params"])
    return HnswBackend(index, state["params"], state.get("tombstones", ()))
