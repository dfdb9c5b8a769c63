"""Exact search: ``IndexIDMap2(IndexFlatIP)``, every gallery vector scanned for every query.

The right kind up to roughly a hundred thousand images, and the reference the approximate kinds
are measured against. FAISS removes from a flat index natively, and the id map keeps our item
ids stable while positions in the flat array shift.

Searches go to the inner flat index and positions are translated to ids with numpy, not through
``IndexIDMap2.search``: that method opens an OpenMP parallel region just to rewrite ten labels,
and on a busy 2-core machine waiting for the second thread cost ~12 ms per query, 100x the
search itself (measured with benchmarks/search_speed.py).

For the same reason a batch of fewer queries than threads is scanned on one thread: FAISS would
split a single query's scan across threads, which on that busy machine took 40 ms per query for
200k vectors instead of 5.5 ms single-threaded. The exact kind is meant for galleries whose
single-threaded scan takes a few milliseconds, so little parallel speed-up is given up.
"""

from __future__ import annotations

from contextlib import contextmanager

import faiss
import numpy as np

from siamkit.errors import SiamkitError


def as_ids(ids) -> np.ndarray:
    return np.ascontiguousarray(ids, dtype=np.int64)


def check_params(kind: str, params: dict, defaults: dict) -> dict:
    """``defaults`` updated with ``params``; an option the kind does not have is an error."""
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        options = ", ".join(defaults) or "none"
        raise SiamkitError(f"index kind {kind!r} has no option {unknown[0]!r}; its options: {options}")
    return {**defaults, **params}


@contextmanager
def one_openmp_thread():
    """Run FAISS on the calling thread only; OpenMP keeps this setting per thread."""
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)


class ExactBackend:
    """Brute-force inner product over unit vectors stored under int64 item ids."""

    kind = "exact"

    def __init__(self, index: faiss.IndexIDMap2, params: dict | None = None):
        self.index = index
        # A view owned by ``index``, which this object keeps alive.
        self.inner = faiss.downcast_index(index.index)
        self.params = dict(params or {})
        self._ids_by_position: np.ndarray | None = None

    @classmethod
    def create(cls, dim: int, vectors: np.ndarray, ids: np.ndarray, **params) -> "ExactBackend":
        check_params(cls.kind, params, {})
        backend = cls(faiss.IndexIDMap2(faiss.IndexFlatIP(dim)))
        backend.add(vectors, ids)
        return backend

    @property
    def ntotal(self) -> int:
        """Vectors stored, including any that are removed but not yet dropped (hnsw)."""
        return self.index.ntotal

    @property
    def tombstones(self) -> set[int]:
        return set()

    def add(self, vectors: np.ndarray, ids) -> None:
        self.index.add_with_ids(vectors, as_ids(ids))
        self._ids_by_position = None

    def remove(self, ids) -> None:
        self.index.remove_ids(as_ids(ids))
        self._ids_by_position = None

    def ids_by_position(self) -> np.ndarray:
        """Item id of every stored vector, in storage order (cached until the next change)."""
        if self._ids_by_position is None:
            self._ids_by_position = faiss.vector_to_array(self.index.id_map)
        return self._ids_by_position

    def translate(self, cosine: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Storage positions from the inner index to item ids; -1 (no result) stays -1."""
        ids = self.ids_by_position()[np.maximum(positions, 0)]
        return cosine, np.where(positions >= 0, ids, -1)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(cosine, ids)``, each (m, k), best first; ids of -1 mark missing results."""
        if len(queries) >= faiss.omp_get_max_threads():
            return self.translate(*self.inner.search(queries, k))
        with one_openmp_thread():
            return self.translate(*self.inner.search(queries, k))

    def search_exhaustive(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The exact answer; for this kind the same as :meth:`search`."""
        return self.search(queries, k)

    def set_search_params(self, **params) -> None:
        check_params(self.kind, params, {})

    def state(self) -> dict:
        """What the metadata must remember beyond the FAISS bytes."""
        return {"params": dict(self.params)}
