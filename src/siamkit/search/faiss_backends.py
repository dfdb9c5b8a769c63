"""The three FAISS index kinds a gallery can use, behind one small interface.

Every backend stores unit vectors under caller-chosen int64 ids and ranks by inner product
(= cosine). They differ in how they trade speed for exactness and in how removal works:

* ``exact``: ``IndexIDMap2(IndexFlatIP)``. Scans everything; the right choice up to ~100k images.
  FAISS removes from a flat index natively; the id map keeps our ids stable across removals.
* ``hnsw``: ``IndexIDMap2(IndexHNSWFlat)`` with the inner-product metric. FAISS cannot remove
  from an HNSW graph (nodes would have to be re-linked, see facebookresearch/faiss#3339), so a
  removed id becomes a *tombstone*: it stays in the graph as a stepping stone but an
  ``IDSelectorNot(IDSelectorBatch(tombstones))`` keeps it out of results. Filtering inside the
  graph walk, rather than over-fetching and dropping afterwards, keeps recall unchanged however
  many neighbours of a query were removed. Once tombstones exceed a quarter of the graph the
  graph is rebuilt from the surviving vectors, so memory and search time stay bounded.
* ``ivf``: ``IndexIVFFlat`` over a k-means coarse quantizer trained on the gallery itself.
  Removal is native and ids are stored in the inverted lists. Vectors added later go to the
  nearest existing list without retraining, which is fine while the gallery keeps its character.

``search_exhaustive`` answers exactly for every kind; the gallery uses it when a caller wants
every item, or when an approximate search found fewer hits than asked for.
"""

from __future__ import annotations

import logging
import math
import warnings

import faiss
import numpy as np

from siamkit.errors import SiamkitError

logger = logging.getLogger(__name__)

KINDS = ("exact", "hnsw", "ivf")

# Defaults measured with benchmarks/search_speed.py (1M clustered 128-d vectors, 2 cores):
# both approximate kinds reach recall@10 >= 0.95 well under 5 ms per query.
HNSW_DEFAULTS = {"m": 32, "ef_construction": 64, "ef_search": 64}
IVF_DEFAULTS = {"nlist": None, "nprobe": 16}
# FAISS's k-means wants at least 39 training points per list; below 4 lists IVF is pointless.
IVF_MIN_POINTS_PER_LIST = 39
IVF_MIN_LISTS = 4
# 64 points per centroid trains as well as FAISS's default 256 on clustered data at 1/4 the time.
IVF_TRAIN_POINTS_PER_LIST = 64
HNSW_COMPACT_FRACTION = 0.25


def _ids(ids) -> np.ndarray:
    return np.ascontiguousarray(ids, dtype=np.int64)


def _check_params(kind: str, params: dict, allowed: dict) -> dict:
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise SiamkitError(f"index kind {kind!r} has no option {unknown[0]!r}; options: {', '.join(allowed)}")
    return {**allowed, **params}


class ExactBackend:
    """Brute-force inner product; exact, removal is native."""

    kind = "exact"

    def __init__(self, index: faiss.IndexIDMap2, params: dict | None = None):
        self.index = index
        self.params: dict = {}

    @classmethod
    def create(cls, dim: int, vectors: np.ndarray, ids: np.ndarray, **params) -> "ExactBackend":
        _check_params(cls.kind, params, {})
        backend = cls(faiss.IndexIDMap2(faiss.IndexFlatIP(dim)))
        backend.add(vectors, ids)
        return backend

    @property
    def ntotal(self) -> int:
        return self.index.ntotal

    @property
    def tombstones(self) -> set[int]:
        return set()

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        self.index.add_with_ids(vectors, _ids(ids))

    def remove(self, ids) -> None:
        self.index.remove_ids(_ids(ids))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.index.search(queries, k)

    def search_exhaustive(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.index.search(queries, k)

    def set_search_params(self, **params) -> None:
        if params:
            raise SiamkitError(f"index kind 'exact' has no search options (got {', '.join(params)})")

    def state(self) -> dict:
        """What the metadata must remember beyond the FAISS bytes."""
        return {"params": dict(self.params)}


class IvfBackend(ExactBackend):
    """Inverted file over k-means lists; ``nprobe`` lists are scanned per query."""

    kind = "ivf"

    def __init__(self, index: faiss.IndexIVFFlat, params: dict):
        self.index = index
        self.params = dict(params)
        self.index.nprobe = int(self.params["nprobe"])

    @classmethod
    def create(cls, dim: int, vectors: np.ndarray, ids: np.ndarray, **params):
        params = _check_params(cls.kind, params, IVF_DEFAULTS)
        n = len(vectors)
        nlist = params["nlist"] or round(4 * math.sqrt(n))
        trainable = n // IVF_MIN_POINTS_PER_LIST
        if nlist > trainable:
            if params["nlist"]:
                warnings.warn(f"ivf: nlist={nlist} needs {nlist * IVF_MIN_POINTS_PER_LIST} images; using {trainable}")
            nlist = trainable
        if nlist < IVF_MIN_LISTS:
            message = (
                f"ivf: {n} images are too few to train {IVF_MIN_LISTS} lists "
                f"(needs {IVF_MIN_LISTS * IVF_MIN_POINTS_PER_LIST}); building an exact index instead"
            )
            warnings.warn(message)
            logger.warning(message)
            return ExactBackend.create(dim, vectors, ids)
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        # Spherical k-means keeps centroids on the unit sphere, where the data lives.
        index.cp.spherical = True
        index.cp.max_points_per_centroid = IVF_TRAIN_POINTS_PER_LIST
        index.train(vectors)
        backend = cls(index, {"nlist": nlist, "nprobe": min(int(params["nprobe"]), nlist)})
        backend.add(vectors, ids)
        return backend

    def search(self, queries, k):
        return self.index.search(queries, k, params=faiss.SearchParametersIVF(nprobe=self.index.nprobe))

    def search_exhaustive(self, queries, k):
        return self.index.search(queries, k, params=faiss.SearchParametersIVF(nprobe=self.index.nlist))

    def set_search_params(self, nprobe: int | None = None, **other) -> None:
        _check_params(self.kind, other, {})
        if nprobe is not None:
            if not 1 <= int(nprobe) <= self.index.nlist:
                raise SiamkitError(f"ivf: nprobe must be between 1 and nlist={self.index.nlist}, got {nprobe}")
            self.params["nprobe"] = self.index.nprobe = int(nprobe)


class HnswBackend:
    """HNSW graph; removal by tombstones (see the module docstring), rebuilt when they pile up."""

    kind = "hnsw"

    def __init__(self, index: faiss.IndexIDMap2, params: dict, tombstones=()):
        self.index = index
        self.params = dict(params)
        self.graph = faiss.downcast_index(index.index)
        self.graph.hnsw.efSearch = int(self.params["ef_search"])
        self._tombstones = {int(i) for i in tombstones}
        self._selector = None

    @classmethod
    def create(cls, dim: int, vectors: np.ndarray, ids: np.ndarray, **params):
        params = _check_params(cls.kind, params, HNSW_DEFAULTS)
        if int(params["m"]) < 2:
            raise SiamkitError(f"hnsw: m must be at least 2, got {params['m']}")
        backend = cls(cls._empty(dim, params), params)
        backend.add(vectors, ids)
        return backend

    @staticmethod
    def _empty(dim: int, params: dict) -> faiss.IndexIDMap2:
        graph = faiss.IndexHNSWFlat(dim, int(params["m"]), faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = int(params["ef_construction"])
        return faiss.IndexIDMap2(graph)

    @property
    def ntotal(self) -> int:
        return self.index.ntotal

    @property
    def tombstones(self) -> set[int]:
        return set(self._tombstones)

    def add(self, vectors, ids) -> None:
        self.index.add_with_ids(vectors, _ids(ids))

    def remove(self, ids) -> None:
        self._tombstones.update(int(i) for i in ids)
        self._selector = None
        if len(self._tombstones) > HNSW_COMPACT_FRACTION * self.ntotal:
            self._compact()

    def _compact(self) -> None:
        """Rebuild the graph from the surviving vectors; the stored ids do not change."""
        vectors, ids = self._stored()
        keep = ~np.isin(ids, np.fromiter(self._tombstones, dtype=np.int64))
        logger.info("hnsw: rebuilding graph without %d removed items", int((~keep).sum()))
        rebuilt = self._empty(self.graph.d, self.params)
        if keep.any():
            rebuilt.add_with_ids(np.ascontiguousarray(vectors[keep]), ids[keep])
        self.__init__(rebuilt, self.params)

    def _stored(self) -> tuple[np.ndarray, np.ndarray]:
        storage = faiss.downcast_index(self.graph.storage)
        return storage.reconstruct_n(0, storage.ntotal), faiss.vector_to_array(self.index.id_map)

    def search(self, queries, k):
        # A fresh parameter object per call: IndexIDMap2 swaps its selector in place while
        # searching, so sharing one between threads (the web service) would race.
        # FAISS stops collecting after ef candidates, so ef below k would return fewer than k.
        params = faiss.SearchParametersHNSW(efSearch=max(int(self.params["ef_search"]), k))
        selector = self._tombstone_selector()
        if selector is not None:
            params.sel = selector[1]
        return self.index.search(queries, k, params=params)

    def _tombstone_selector(self):
        """``(batch, not_batch)``; both stay referenced because SWIG would not keep ``batch``."""
        if self._tombstones and self._selector is None:
            batch = faiss.IDSelectorBatch(np.fromiter(self._tombstones, dtype=np.int64))
            self._selector = (batch, faiss.IDSelectorNot(batch))
        return self._selector

    def search_exhaustive(self, queries, k):
        """Exact answer by a plain matrix product over the stored vectors (small galleries only)."""
        vectors, ids = self._stored()
        if self._tombstones:
            keep = ~np.isin(ids, np.fromiter(self._tombstones, dtype=np.int64))
            vectors, ids = vectors[keep], ids[keep]
        cosine = queries @ vectors.T
        k_found = min(k, len(ids))
        order = np.argsort(-cosine, axis=1, kind="stable")[:, :k_found]
        distances = np.full((len(queries), k), -np.inf, dtype=np.float32)
        labels = np.full((len(queries), k), -1, dtype=np.int64)
        distances[:, :k_found] = np.take_along_axis(cosine, order, axis=1)
        labels[:, :k_found] = ids[order]
        return distances, labels

    def set_search_params(self, ef_search: int | None = None, **other) -> None:
        _check_params(self.kind, other, {})
        if ef_search is not None:
            if int(ef_search) < 1:
                raise SiamkitError(f"hnsw: ef_search must be at least 1, got {ef_search}")
            self.params["ef_search"] = self.graph.hnsw.efSearch = int(ef_search)

    def state(self) -> dict:
        return {"params": dict(self.params), "tombstones": sorted(self._tombstones)}


BACKENDS = {"exact": ExactBackend, "hnsw": HnswBackend, "ivf": IvfBackend}


def create_backend(kind: str, dim: int, vectors: np.ndarray, ids: np.ndarray, **params):
    """Build a backend of ``kind`` holding ``vectors`` under ``ids`` (IVF may fall back to exact)."""
    if kind not in BACKENDS:
        raise SiamkitError(f"unknown index kind {kind!r}; choose one of {', '.join(KINDS)}")
    return BACKENDS[kind].create(dim, vectors, ids, **params)


def restore_backend(kind: str, index_bytes: np.ndarray, state: dict):
    """Rebuild a backend from ``faiss.serialize_index`` bytes and its saved :meth:`state`."""
    # Already the concrete class; downcasting again would make a second, non-owning wrapper
    # and the index would be freed with this one.
    index = faiss.deserialize_index(index_bytes)
    expected = {"exact": faiss.IndexIDMap2, "hnsw": faiss.IndexIDMap2, "ivf": faiss.IndexIVFFlat}
    if kind not in expected or not isinstance(index, expected[kind]):
        raise ValueError(f"index kind {kind!r} does not match the stored {type(index).__name__}")
    if kind == "exact":
        return ExactBackend(index)
    if kind == "ivf":
        return IvfBackend(index, state["params"])
    return HnswBackend(index, state["params"], state.get("tombstones", ()))
