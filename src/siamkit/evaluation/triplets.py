"""Triplet accuracy: how often the anchor is closer to its positive than to its negative.

It is the quantity a triplet loss with zero margin optimises, so it tells whether training
achieved what it was asked to, separately from whether a single threshold works (verification)
or the ranking does (retrieval).
"""

from __future__ import annotations

from siamkit.evaluation.distances import check_embeddings
from siamkit.evaluation.pairs import make_triplets
from siamkit.evaluation.verification import pair_distances


def triplet_accuracy(embeddings, labels, n: int = 1000, seed: int = 0) -> float:
    """Fraction of ``n`` seeded random triplets with d(anchor, positive) < d(anchor, negative)."""
    array, label_array = check_embeddings(embeddings, labels)
    anchor, positive, negative = make_triplets(label_array, n=n, seed=seed)
    closer = pair_distances(array, anchor, positive) < pair_distances(array, anchor, negative)
    return float(closer.mean())
