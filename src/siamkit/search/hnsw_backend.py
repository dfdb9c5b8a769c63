"""Approximate search on an HNSW graph: ``IndexIDMap2(IndexHNSWFlat)``, inner-product metric.

FAISS cannot remove a node from an HNSW graph (its neighbours would have to be re-linked; see
facebookresearch/faiss#3339). A removed item therefore becomes a *tombstone*: its node stays in
the graph as a stepping stone, and an ``IDSelectorNot(IDSelectorBatch(...))`` passed with every
search keeps it out of the results. Filtering inside the graph walk, rather than over-fetching
and dropping results afterwards, keeps recall unchanged however many of a query's neighbours
were removed. Once tombstones exceed a quarter of the graph it is rebuilt from the surviving
vectors, so memory and search time stay bounded; that cost is amortised over many removals.
"""

from __future__ import annotations

import logging
import warnings

import faiss
import numpy as np

from siamkit.errors import SiamkitError
from siamkit.search.exact_backend import ExactBackend, check_params
from siamkit.search.unit_vectors import numpy_method, numpy_search

logger = logging.getLogger(__name__)

# Tuned with benchmarks/search_speed.py on 1M clustered 128-d vectors and 2 cores: recall@10
# 0.993 at 0.54 ms per query (p50), for ~8 CPU-minutes of building. ef_construction below 2 * m starves the 2 * m links each node
# gets on the bottom layer: the same run with ef_construction=40 reached only 0.82 (0.93 with
# ef_search=256), so building at 80 (1.8x the CPU time) is well spent.
HNSW_DEFAULTS = {"m": 32, "ef_construction": 80, "ef_search": 64}
COMPACT_FRACTION = 0.25


class HnswBackend(ExactBackend):
    """HNSW graph; removal by tombstones, compacted when they pile up."""

    kind = "hnsw"

    def __init__(self, index: faiss.IndexIDMap2, params: dict, tombstones=()):
        super().__init__(index, params)
        self.inner.hnsw.efSearch = int(self.params["ef_search"])
        self._tombstones = {int(i) for i in tombstones}
        self._selector = None

    @classmethod
    def create(cls, dim: int, vectors: np.ndarray, ids: np.ndarray, **params) -> "HnswBackend":
        params = check_params(cls.kind, params, HNSW_DEFAULTS)
        for name, low in (("m", 2), ("ef_construction", 1), ("ef_search", 1)):
            if int(params[name]) < low:
                raise SiamkitError(f"hnsw: {name} must be at least {low}, got {params[name]}")
        if int(params["ef_construction"]) < 2 * int(params["m"]):
            warnings.warn(
                f"hnsw: ef_construction={params['ef_construction']} is below 2 * m={2 * int(params['m'])}; "
                "expect a poorly connected graph and low recall"
            )
        backend = cls(cls._empty(dim, params), params)
        backend.add(vectors, ids)
        return backend

    @staticmethod
    def _empty(dim: int, params: dict) -> faiss.IndexIDMap2:
        graph = faiss.IndexHNSWFlat(dim, int(params["m"]), faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = int(params["ef_construction"])
        return faiss.IndexIDMap2(graph)

    @property
    def tombstones(self) -> set[int]:
        return set(self._tombstones)

    def remove(self, ids) -> None:
        self._tombstones.update(int(i) for i in ids)
        self._selector = None
        if len(self._tombstones) > COMPACT_FRACTION * self.ntotal:
            self._compact()

    def _compact(self) -> None:
        """Rebuild the graph from the surviving vectors; item ids do not change."""
        vectors, ids = self._live_vectors()
        logger.info("hnsw: rebuilding graph without %d removed items", len(self._tombstones))
        rebuilt = self._empty(self.inner.d, self.params)
        if len(ids):
            rebuilt.add_with_ids(vectors, ids)
        self.__init__(rebuilt, self.params)

    def _live_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        storage = faiss.downcast_index(self.inner.storage)
        vectors, ids = numpy_method(storage, "reconstruct_n")(0, storage.ntotal), self.ids_by_position()
        if self._tombstones:
            keep = ~np.isin(ids, np.fromiter(self._tombstones, dtype=np.int64))
            vectors, ids = np.ascontiguousarray(vectors[keep]), ids[keep]
        return vectors, ids

    def search(self, queries, k):
        # FAISS stops collecting after ef candidates, so ef below k would return fewer than k.
        # A fresh parameter object per call keeps concurrent searches from sharing state.
        params = faiss.SearchParametersHNSW(efSearch=max(int(self.params["ef_search"]), k))
        selector = self._tombstone_selector()
        if selector is not None:
            params.sel = selector[1]
        return self.translate(*numpy_search(self.inner)(queries, k, params=params))

    def _tombstone_selector(self):
        """``(batch, not_batch)`` over storage positions; both referenced, as SWIG would not."""
        if self._tombstones and self._selector is None:
            dead = np.isin(self.ids_by_position(), np.fromiter(self._tombstones, dtype=np.int64))
            batch = faiss.IDSelectorBatch(np.flatnonzero(dead).astype(np.int64))
            self._selector = (batch, faiss.IDSelectorNot(batch))
        return self._selector if self._tombstones else None

    def search_exhaustive(self, queries, k):
        """Exact answer by a matrix product over the stored vectors (meant for small galleries)."""
        vectors, ids = self._live_vectors()
        cosine = queries @ vectors.T
        found = min(k, len(ids))
        order = np.argsort(-cosine, axis=1, kind="stable")[:, :found]
        best = np.full((len(queries), k), -np.inf, dtype=np.float32)
        labels = np.full((len(queries), k), -1, dtype=np.int64)
        best[:, :found] = np.take_along_axis(cosine, order, axis=1)
        labels[:, :found] = ids[order]
        return best, labels

    def set_search_params(self, ef_search: int | None = None, **other) -> None:
        check_params(self.kind, other, {})
        if ef_search is not None:
            if int(ef_search) < 1:
                raise SiamkitError(f"hnsw: ef_search must be at least 1, got {ef_search}")
            self.params["ef_search"] = self.inner.hnsw.efSearch = int(ef_search)

    def state(self) -> dict:
        return {"params": dict(self.params), "tombstones": sorted(self._tombstones)}
