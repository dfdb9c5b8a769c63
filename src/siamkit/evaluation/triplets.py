"""Triplet accuracy: how often the anchor is closer to its positive than to its negative.

It is the quantity a triplet loss with zero margin optimises, so it tells whether training
achieved what it was asked to, separately from whether a single threshold works (verification)
or the ranking does (retrieval).
"""

from __future__ import annotations

import numpy as np

from siamkit.evaluation.distances import check_embeddings
from siamkit.evaluation.pairs import make_triplets
from siamkit.evaluation.verification import pair_distances


def triplet_accuracy(embeddings, labels, n: int = 1000, seed: int = 0) -> float:
    """Fraction of ``n`` seeded random triplets with d(anchor, positive) < d(anchor, negative).

    A tie (equal distances) is broken at random with a generator seeded from ``seed``, as in
    every siamkit ranking metric (retrieval, one-shot), so a collapsed model scores 0.5, not 0.
    """
    array, label_array = check_embeddings(embeddings, labels)
    anchor, positive, negative = make_triplets(label_array, n=n, seed=seed)
    to_positive = pair_distances(array, anchor, positive)
    to_negative = pair_distances(array, anchor, negative)
    coin = np.random.default_rng([seed, 1]).random(len(anchor)) < 0.5
    closer = (to_positive < to_negative) | ((to_positive == to_negative) & coin)
    return float(closer.mean())
