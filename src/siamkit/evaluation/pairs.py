"""Which images get compared with which: verification pairs and triplets for evaluation.

Metrics are only comparable between runs if the pairs are, so every draw here comes from a
seeded :class:`numpy.random.Generator`: the same labels, ``max_pairs`` and ``seed`` always give
the same pairs, and the validation set used to pick a threshold can be rebuilt exactly.
"""

from __future__ import annotations

import numpy as np

from siamkit.errors import SiamkitError


def _identity_blocks(labels) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Group image indices by identity.

    Returns ``(codes, order, starts, counts)``: ``codes[i]`` is image i's identity number,
    ``order`` lists image indices sorted by identity, and identity c owns
    ``order[starts[c]:starts[c] + counts[c]]``.
    """
    label_array = np.asarray(labels)
    if label_array.ndim != 1:
        raise SiamkitError(f"labels must be a 1-D sequence, got shape {label_array.shape}")
    _, codes = np.unique(label_array, return_inverse=True)
    codes = codes.reshape(-1)
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return codes, order, starts, counts


def _decode_upper_triangle(k: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Map flat indices ``k`` of the pairs (i < j) of ``n`` items, row by row, back to (i, j)."""
    rows = np.arange(n)
    row_starts = rows * (2 * n - rows - 1) // 2
    i = np.searchsorted(row_starts, k, side="right") - 1
    j = k - row_starts[i] + i + 1
    return i, j


def _positive_pairs(order, starts, counts, max_pairs, rng) -> tuple[np.ndarray, np.ndarray]:
    """All same-identity pairs, or ``max_pairs`` of them drawn without replacement.

    Sampling works on flat pair numbers, so a large identity's n^2/2 pairs are never listed
    just to keep a few.
    """
    pairs_per_identity = counts * (counts - 1) // 2
    total = int(pairs_per_identity.sum())
    if max_pairs is None or max_pairs >= total:
        flat = np.arange(total)
    else:
        flat = np.sort(rng.choice(total, size=int(max_pairs), replace=False))
    offsets = np.concatenate([[0], np.cumsum(pairs_per_identity)])
    identity = np.searchsorted(offsets, flat, side="right") - 1
    idx_a = np.empty(len(flat), dtype=np.int64)
    idx_b = np.empty(len(flat), dtype=np.int64)
    for c in np.unique(identity):
        mask = identity == c
        i, j = _decode_upper_triangle(flat[mask] - offsets[c], int(counts[c]))
        members = order[starts[c] : starts[c] + counts[c]]
        idx_a[mask], idx_b[mask] = members[i], members[j]
    return idx_a, idx_b


def _negative_pairs(codes, wanted, rng) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``wanted`` distinct different-identity pairs, drawn uniformly.

    Rejection sampling is cheap while different-identity pairs are plentiful (the usual case);
    when they are scarce, every one is listed and the draw is made from that list.
    """
    n = len(codes)
    counts = np.bincount(codes)
    available = (n * n - int((counts.astype(np.int64) ** 2).sum())) // 2
    wanted = min(wanted, available)
    if wanted * 2 > available:
        i, j = np.triu_indices(n, k=1)
        keep = codes[i] != codes[j]
        i, j = i[keep], j[keep]
        pick = np.sort(rng.choice(len(i), size=wanted, replace=False))
        return i[pick].astype(np.int64), j[pick].astype(np.int64)
    keys = np.empty(0, dtype=np.int64)  # pair (i < j) stored as i * n + j
    while len(keys) < wanted:
        draw = max(2 * (wanted - len(keys)), 64)
        a = rng.integers(0, n, size=draw)
        b = rng.integers(0, n, size=draw)
        different = codes[a] != codes[b]
        a, b = a[different], b[different]
        merged = np.concatenate([keys, np.minimum(a, b) * n + np.maximum(a, b)])
        _, first = np.unique(merged, return_index=True)
        keys = merged[np.sort(first)][:wanted]  # drop repeats, keep draw order
    return keys // n, keys % n


def make_verification_pairs(labels, max_pairs: int | None = None, seed: int = 0):
    """Build balanced same/different pairs for verification metrics.

    Takes every same-identity pair (or ``max_pairs`` of them, seeded) and as many
    different-identity pairs, never pairing an image with itself. If the data has fewer
    different-identity pairs than same-identity ones, all of them are used and the set is
    unbalanced. Returns ``(idx_a, idx_b, same)``: int64, int64 and bool arrays in a seeded
    shuffled order.
    """
    if max_pairs is not None and max_pairs < 1:
        raise SiamkitError(f"max_pairs must be at least 1, got {max_pairs}")
    codes, order, starts, counts = _identity_blocks(labels)
    if len(counts) < 2:
        raise SiamkitError(f"verification needs at least 2 identities, found {len(counts)}")
    if not np.any(counts >= 2):
        raise SiamkitError("verification needs an identity with at least 2 images; every identity has only one")
    rng = np.random.default_rng(seed)
    pos_a, pos_b = _positive_pairs(order, starts, counts, max_pairs, rng)
    neg_a, neg_b = _negative_pairs(codes, len(pos_a), rng)
    idx_a = np.concatenate([pos_a, neg_a])
    idx_b = np.concatenate([pos_b, neg_b])
    same = np.concatenate([np.ones(len(pos_a), bool), np.zeros(len(neg_a), bool)])
    shuffle = rng.permutation(len(idx_a))
    return idx_a[shuffle], idx_b[shuffle], same[shuffle]


def make_triplets(labels, n: int, seed: int = 0):
    """Draw ``n`` (anchor, positive, negative) index triplets, with replacement, seeded.

    Anchors are drawn uniformly from images whose identity has at least 2 images; the positive
    is another image of the anchor's identity (never the anchor itself) and the negative any
    image of another identity. Identities with a single image therefore only appear as
    negatives.
    """
    if n < 1:
        raise SiamkitError(f"the number of triplets must be at least 1, got {n}")
    codes, order, starts, counts = _identity_blocks(labels)
    if len(counts) < 2:
        raise SiamkitError(f"triplets need at least 2 identities, found {len(counts)}")
    rank_in_identity = np.empty(len(codes), dtype=np.int64)
    rank_in_identity[order] = np.arange(len(codes)) - starts[codes[order]]
    eligible = np.flatnonzero(counts[codes] >= 2)
    if len(eligible) == 0:
        raise SiamkitError("triplets need an identity with at least 2 images; every identity has only one")
    rng = np.random.default_rng(seed)
    anchor = rng.choice(eligible, size=n)
    c = codes[anchor]
    # Step 1..count-1 places forward inside the anchor's identity block: never lands on the anchor.
    step = rng.integers(1, counts[c])
    positive = order[starts[c] + (rank_in_identity[anchor] + step) % counts[c]]
    # Draw among the images outside the anchor's block, then skip over the block.
    outside = rng.integers(0, len(codes) - counts[c])
    negative = order[np.where(outside >= starts[c], outside + counts[c], outside)]
    assert np.all(anchor != positive), "a triplet's positive must differ from its anchor"
    assert np.all(codes[anchor] == codes[positive]) and np.all(codes[anchor] != codes[negative])
    return anchor.astype(np.int64), positive.astype(np.int64), negative.astype(np.int64)
