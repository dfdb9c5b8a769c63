"""Seeded, balanced pairs and triplets for the ``fixed`` sampling mode.

This is how the classic Siamese notebooks train: a fixed list of (anchor, other) pairs, half of
them the same identity, or (anchor, positive, negative) triplets. We keep it for comparison with
online mining, but without their bug: the positive is always a *different image* of the anchor's
identity, never the anchor itself, which would teach the network nothing and inflate accuracy.
"""

from __future__ import annotations

import numpy as np

from siamkit.errors import SiamkitError


def _indices_by_label(labels) -> tuple[dict, list, list]:
    by_label: dict = {}
    for index, label in enumerate(labels):
        by_label.setdefault(label, []).append(index)
    with_pairs = sorted(label for label, idx in by_label.items() if len(idx) >= 2)
    all_labels = sorted(by_label)
    if not with_pairs:
        raise SiamkitError("no identity has 2 or more images, so no positive pair can be formed")
    if len(all_labels) < 2:
        raise SiamkitError("only one identity: no negative pair can be formed")
    return by_label, with_pairs, all_labels


def _draw_positive(rng, members: list[int]) -> tuple[int, int]:
    anchor, positive = rng.choice(len(members), size=2, replace=False)
    return members[anchor], members[positive]


def _draw_negative(rng, by_label: dict, all_labels: list, anchor_label) -> int:
    while True:
        label = all_labels[rng.integers(len(all_labels))]
        if label != anchor_label:
            members = by_label[label]
            return members[rng.integers(len(members))]


def balanced_pairs(labels, count: int, seed: int = 0) -> np.ndarray:
    """``count`` rows of (index_a, index_b, same) with same=1 for exactly half of them."""
    by_label, with_pairs, all_labels = _indices_by_label(labels)
    rng = np.random.default_rng(seed)
    rows = np.empty((count, 3), dtype=np.int64)
    for row in range(count):
        anchor_label = with_pairs[rng.integers(len(with_pairs))]
        if row % 2 == 0:
            a, b = _draw_positive(rng, by_label[anchor_label])
            rows[row] = (a, b, 1)
        else:
            a = by_label[anchor_label][rng.integers(len(by_label[anchor_label]))]
            rows[row] = (a, _draw_negative(rng, by_label, all_labels, anchor_label), 0)
    assert np.all(rows[rows[:, 2] == 1, 0] != rows[rows[:, 2] == 1, 1]), "a positive pair repeats its anchor"
    return rows


def fixed_triplets(labels, count: int, seed: int = 0) -> np.ndarray:
    """``count`` rows of (anchor, positive, negative) indices, anchor != positive."""
    by_label, with_pairs, all_labels = _indices_by_label(labels)
    rng = np.random.default_rng(seed)
    rows = np.empty((count, 3), dtype=np.int64)
    for row in range(count):
        label = with_pairs[rng.integers(len(with_pairs))]
        anchor, positive = _draw_positive(rng, by_label[label])
        rows[row] = (anchor, positive, _draw_negative(rng, by_label, all_labels, label))
    assert np.all(rows[:, 0] != rows[:, 1]), "a triplet's positive is its anchor"
    return rows
