"""Approximate search on an inverted file: ``IndexIVFFlat`` over spherical k-means lists.

Each query scans the ``nprobe`` lists whose centroids are closest, out of ``nlist`` (default
4 * sqrt(n), the usual rule of thumb). The lists are trained on the gallery itself; vectors
added later go to the nearest existing list without retraining, which stays accurate while new
images resemble the old ones. Item ids are stored in the lists and removal is native.

Training needs data: FAISS's k-means wants at least 39 points per list, so a small gallery gets
fewer lists, and below 4 lists' worth it gets an exact index instead (with a warning) since
scanning a few hundred vectors is as fast as any index.
"""

from __future__ import annotations

import math
import warnings

import faiss
import numpy as np

from siamkit.errors import SiamkitError
from siamkit.search.exact_backend import ExactBackend, as_ids, check_params
from siamkit.search.unit_vectors import numpy_search

# Tuned with benchmarks/search_speed.py on 1M clustered 128-d vectors and 2 cores: with
# nlist=4000, nprobe=32 gave recall@10 0.97 at 0.6 ms per query (16: 0.96; 128: 0.99 at 2 ms).
IVF_DEFAULTS = {"nlist": None, "nprobe": 32}
MIN_POINTS_PER_LIST = 39
MIN_LISTS = 4
# 64 training points per list train about as well as FAISS's default 256 at a quarter the time.
TRAIN_POINTS_PER_LIST = 64


class IvfBackend:
    """Inverted lists of unit vectors under int64 item ids."""

    kind = "ivf"

    def __init__(self, index: faiss.IndexIVFFlat, params: dict):
        self.index = index
        self.params = dict(params)
        self.index.nprobe = int(self.params["nprobe"])

    @classmethod
    def create(cls, dim: int, vectors: np.ndarray, ids: np.ndarray, **params):
        params = check_params(cls.kind, params, IVF_DEFAULTS)
        n = len(vectors)
        nlist = int(params["nlist"] or round(4 * math.sqrt(n)))
        trainable = n // MIN_POINTS_PER_LIST
        if nlist > trainable and params["nlist"]:
            warnings.warn(f"ivf: nlist={nlist} needs {nlist * MIN_POINTS_PER_LIST} images; using {trainable}")
        nlist = min(nlist, trainable)
        if nlist < MIN_LISTS:
            message = (
                f"ivf: {n} images are too few to train {MIN_LISTS} lists "
                f"(needs {MIN_LISTS * MIN_POINTS_PER_LIST}); building an exact index instead"
            )
            warnings.warn(message)  # the CLI shows siamkit's warnings as one log line (cli/errors.py)
            return ExactBackend.create(dim, vectors, ids)
        if int(params["nprobe"]) < 1:
            raise SiamkitError(f"ivf: nprobe must be at least 1, got {params['nprobe']}")
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        # Spherical k-means keeps centroids on the unit sphere, where the data lives.
        index.cp.spherical = True
        index.cp.max_points_per_centroid = TRAIN_POINTS_PER_LIST
        index.train(vectors)
        backend = cls(index, {"nlist": nlist, "nprobe": min(int(params["nprobe"]), nlist)})
        backend.add(vectors, ids)
        return backend

    @property
    def ntotal(self) -> int:
        return self.index.ntotal

    @property
    def tombstones(self) -> set[int]:
        return set()

    def add(self, vectors: np.ndarray, ids) -> None:
        self.index.add_with_ids(vectors, as_ids(ids))

    def remove(self, ids) -> None:
        self.index.remove_ids(as_ids(ids))

    def search(self, queries, k):
        return numpy_search(self.index)(queries, k, params=faiss.SearchParametersIVF(nprobe=self.index.nprobe))

    def search_exhaustive(self, queries, k):
        return numpy_search(self.index)(queries, k, params=faiss.SearchParametersIVF(nprobe=self.index.nlist))

    def set_search_params(self, nprobe: int | None = None, **other) -> None:
        check_params(self.kind, other, {})
        if nprobe is not None:
            if not 1 <= int(nprobe) <= self.index.nlist:
                raise SiamkitError(f"ivf: nprobe must be between 1 and nlist={self.index.nlist}, got {nprobe}")
            self.params["nprobe"] = self.index.nprobe = int(nprobe)

    def state(self) -> dict:
        return {"params": dict(self.params)}
