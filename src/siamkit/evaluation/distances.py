"""The one distance every evaluation metric agrees on.

siamkit compares images by the Euclidean distance between L2-normalised embeddings (smaller =
more alike), which ranks pairs exactly as cosine similarity does but keeps a threshold in
familiar units (0 = identical direction, 2 = opposite). Verification, retrieval, one-shot and
triplet metrics all go through this module so they can never disagree about what "close" means.
"""

from __future__ import annotations

import numpy as np

from siamkit.errors import SiamkitError

# Rows whose norm is below this are left as (near) zero instead of being blown up to unit length.
_NORM_FLOOR = 1e-12


def check_embeddings(embeddings, labels=None) -> tuple[np.ndarray, np.ndarray | None]:
    """Return ``embeddings`` as a 2-D float32 array (and ``labels`` as a 1-D array).

    Catches the mistakes that otherwise surface as baffling numbers: a NaN from a diverged
    model, a label list that does not line up with the embeddings.
    """
    array = np.asarray(embeddings, dtype=np.float32)
    if array.ndim != 2 or array.shape[0] == 0:
        raise SiamkitError(f"embeddings must be a non-empty 2-D array (images x dims), got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise SiamkitError("embeddings contain NaN or infinity; the model has probably diverged during training")
    if labels is None:
        return array, None
    label_array = np.asarray(labels)
    if label_array.ndim != 1 or len(label_array) != len(array):
        raise SiamkitError(
            f"got {len(label_array)} labels for {len(array)} embeddings; there must be one label per embedding"
        )
    return array, label_array


def l2_normalize(embeddings: np.ndarray) -> np.ndarray:
    """Scale every row to unit length, so distance depends only on direction."""
    array = np.asarray(embeddings, dtype=np.float32)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.maximum(norms, _NORM_FLOOR)

