"""Checked embeddings for the metrics, and the one distance they agree on.

siamkit compares images by the Euclidean distance between L2-normalised embeddings (smaller =
more alike), which ranks pairs exactly as cosine similarity does but keeps a threshold in
familiar units (0 = identical direction, 2 = opposite). The formulas live in
:mod:`siamkit.distances`, shared with training, ``SiameseModel`` and search; verification,
retrieval, one-shot and triplet metrics take them from there, so they can never disagree about
what "close" means.
"""

from __future__ import annotations

import numpy as np

from siamkit.distances import l2_normalize  # noqa: F401  (re-exported: siamkit.evaluation's public name)
from siamkit.errors import SiamkitError


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

