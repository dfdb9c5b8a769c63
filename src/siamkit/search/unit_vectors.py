"""Embeddings as FAISS wants them (the cosine -> distance/similarity formulas: siamkit.distances).

The gallery index ranks by inner product, which equals cosine similarity only for unit vectors.
The model's embedding head already L2-normalises, but embeddings also arrive from older model
versions, from ``.npy`` files and from float16 exports, so every vector is normalised again here
rather than trusting the caller; the cost is one pass over the data.
"""

from __future__ import annotations

import numpy as np

from siamkit.distances import cosine_to_distance, cosine_to_similarity  # noqa: F401  (their old home)
from siamkit.errors import SiamkitError


def as_unit_vectors(embeddings, dim: int | None, where: str) -> np.ndarray:
    """Return a C-contiguous float32 (n, dim) copy of ``embeddings`` with rows of length one.

    ``where`` names the index file (or the data) in error messages. ``dim=None`` accepts any
    width, for the first embeddings an index sees.
    """
    array = np.asarray(embeddings, dtype=np.float32)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2:
        raise SiamkitError(f"{where}: embeddings must be a 2-D (n, dim) array, got shape {array.shape}")
    if dim is not None and array.shape[1] != dim:
        raise SiamkitError(
            f"{where}: index holds {dim}-d embeddings but got {array.shape[1]}-d ones; "
            "embed with the model the index was built with"
        )
    if not np.isfinite(array).all():
        raise SiamkitError(f"{where}: embeddings contain NaN or infinity; the model output is broken")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    if array.shape[0] and norms.min() == 0.0:
        raise SiamkitError(f"{where}: an embedding is all zeros and has no direction to compare")
    return np.ascontiguousarray(array / norms, dtype=np.float32)


def numpy_method(index, name: str):
    """FAISS's own numpy method ``name`` of ``index``.

    Importing ``faiss.contrib.torch_utils`` (pytorch-metric-learning does, for its samplers)
    replaces ``search``, ``reconstruct_n`` and other methods with torch-aware wrappers: ``search``
    loses its ``params=`` argument and ``reconstruct_n`` returns a torch tensor. The originals stay
    as ``<name>_numpy``; training and searching in one process would otherwise break.
    """
    return getattr(index, f"{name}_numpy", getattr(index, name))


def numpy_search(index):
    return numpy_method(index, "search")
