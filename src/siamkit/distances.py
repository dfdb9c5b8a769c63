"""What "how far apart are two embeddings" means in siamkit, written once.

siamkit compares images by the Euclidean distance between L2-normalised embeddings (smaller =
more alike, 0 = same direction, 2 = opposite), which ranks pairs exactly as cosine similarity
does but keeps the model folder's threshold in familiar units. ``similarity`` is the same
number mapped onto [0, 1] for people: (1 + cos) / 2.

Training validation, threshold calibration, evaluation, ``SiameseModel.compare`` and gallery
search all call these functions, so the distance a threshold was chosen on is the distance it is
applied to. The module sits on the ground floor (numpy only) so every layer may import it.

Precision: every function computes in the dtype it is given (float32 embeddings give float32
distances), so results do not depend on which caller asked.
"""

from __future__ import annotations

import numpy as np

# Rows whose norm is below this are left as (near) zero instead of being blown up to unit length.
_NORM_FLOOR = 1e-12


def l2_normalize(embeddings) -> np.ndarray:
    """Scale every row to unit length (float32), so distance depends only on direction."""
    array = np.asarray(embeddings, dtype=np.float32)
    norms = np.linalg.norm(array, axis=-1, keepdims=True)
    return array / np.maximum(norms, _NORM_FLOOR)


def unit_distance(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Euclidean distance between unit vectors, row by row (numpy broadcasting applies).

    Both sides must already be L2-normalised (a model's output is; :func:`l2_normalize` makes
    anything else so). The difference is taken directly rather than through the cosine, which
    would lose precision for near-identical images (sqrt of a difference of nearly equal numbers).
    """
    return np.linalg.norm(first - second, axis=-1)


def embedding_distance(first, second) -> np.ndarray:
    """:func:`unit_distance` after normalising both sides: the distance of two raw embeddings."""
    return unit_distance(l2_normalize(first), l2_normalize(second))


def cosine_to_distance(cosine: np.ndarray) -> np.ndarray:
    """Euclidean distance between unit vectors from their cosine: ||a - b|| = sqrt(2 - 2 cos).

    For rankers that work in inner products (FAISS, a similarity matrix). Clamped at zero
    because float32 rounding can push cos a hair above one for identical images.
    """
    return np.sqrt(np.maximum(0.0, 2.0 - 2.0 * cosine))


def cosine_to_similarity(cosine: np.ndarray) -> np.ndarray:
    """Map cosine from [-1, 1] to [0, 1] so a UI can show it as a percentage."""
    return np.clip((1.0 + cosine) / 2.0, 0.0, 1.0)


def distance_to_similarity(distance: np.ndarray | float) -> np.ndarray | float:
    """:func:`cosine_to_similarity` from a distance: cos = 1 - d^2 / 2, so (1 + cos) / 2 = 1 - d^2 / 4."""
    return np.clip(1.0 - np.square(distance) / 4.0, 0.0, 1.0)
