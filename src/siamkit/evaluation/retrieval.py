"""Retrieval: every image queries all other images, as a gallery search would.

Reports Recall@K (did a same-identity image show up in the top K?), precision@1 and MAP@R,
the metric Musgrave et al. (2020, "A Metric Learning Reality Check") recommend because it
rewards ranking *all* R same-identity images first, not just one. Queries whose identity has
no other image cannot be answered and are left out of every number.

The distance matrix is built a block of queries at a time, so memory stays bounded for tens
of thousands of embeddings.
"""

from __future__ import annotations

import numpy as np

from siamkit.distances import cosine_to_distance
from siamkit.errors import SiamkitError
from siamkit.evaluation.distances import check_embeddings, l2_normalize

# Largest number of distance-matrix cells held at once (float32: 64 MiB).
_MAX_BLOCK_CELLS = 1 << 24


def _tie_priority(queries: np.ndarray, columns: np.ndarray, seed: int) -> np.ndarray:
    """A seeded pseudo-random number per (query, image) cell, to order tied images.

    A hash of the cell rather than draws from a generator, so the order does not depend on how
    queries are split into blocks (splitmix64's finaliser; uint64 arithmetic wraps on purpose).
    """
    x = queries.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    x ^= columns.astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)
    x ^= np.uint64(seed & 0xFFFFFFFFFFFFFFFF) * np.uint64(0x165667B19E3779F9)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _ranked_neighbours(normalized: np.ndarray, rows: np.ndarray, depth: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The ``depth`` nearest other images of each query in ``rows``: (indices, distances).

    Ranks by cosine similarity, which orders unit vectors exactly as Euclidean distance does,
    and converts only the kept columns to distances (||a - b||^2 = 2 - 2 a.b). Images at the
    same distance are put in a seeded random order (:func:`_tie_priority`), so a collapsed
    model ranks at chance instead of by image index; the same input and seed always give the
    same ranking.
    """
    similarity = normalized[rows] @ normalized.T
    similarity[np.arange(len(rows)), rows] = -np.inf  # a query never retrieves itself
    n = similarity.shape[1]
    # Partitioning values is several times faster than argpartition on big blocks: find each
    # row's depth-th largest similarity, keep everything at least that large (ties may add a
    # few), then sort only the kept entries.
    cutoff = np.partition(similarity, n - depth, axis=1)[:, n - depth]
    at_least = similarity >= cutoff[:, None]
    if at_least.sum() > 4 * at_least.shape[0] * depth:
        # Massive ties (a collapsed model maps everything to one point): pick among the images
        # tied at each row's cutoff one row at a time, instead of sorting whole rows.
        return _ranked_under_massive_ties(similarity, rows, cutoff, depth, seed)
    query, column = np.nonzero(at_least)
    kept = similarity[query, column]
    order = np.lexsort((_tie_priority(rows[query], column, seed), -kept, query))
    query, column, kept = query[order], column[order], kept[order]
    first = np.searchsorted(query, np.arange(len(rows)))
    take = first[:, None] + np.arange(depth)
    ranked, ranked_similarity = column[take], kept[take]
    return ranked, cosine_to_distance(ranked_similarity)


def _ranked_under_massive_ties(similarity, rows, cutoff, depth: int, seed: int):
    ranked = np.empty((len(rows), depth), dtype=np.int64)
    for i, row in enumerate(rows):
        above = np.flatnonzero(similarity[i] > cutoff[i])
        tied = np.flatnonzero(similarity[i] == cutoff[i])
        priority = _tie_priority(np.full(len(tied), row), tied, seed)
        needed = depth - len(above)
        chosen = tied[np.argpartition(priority, needed - 1)[:needed]] if needed < len(tied) else tied
        candidates = np.concatenate([above, chosen])
        order = np.lexsort((_tie_priority(np.full(len(candidates), row), candidates, seed), -similarity[i, candidates]))
        ranked[i] = candidates[order][:depth]
    ranked_similarity = np.take_along_axis(similarity, ranked, axis=1)
    return ranked, cosine_to_distance(ranked_similarity)


def _query_blocks(n: int):
    """Query indices in blocks small enough that a block's distance rows fit in memory."""
    rows_per_block = max(1, _MAX_BLOCK_CELLS // max(n, 1))
    for start in range(0, n, rows_per_block):
        yield np.arange(start, min(n, start + rows_per_block))


def nearest_neighbours(embeddings, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """For every image, its ``k`` nearest *other* images: ``(indices, distances)``, each (n, k).

    Used to draw the retrieval grid with the same ranking (and ``seed`` for ties) the metrics
    were computed on.
    """
    array, _ = check_embeddings(embeddings)
    n = len(array)
    if n < 2:
        raise SiamkitError("nearest neighbours need at least 2 embeddings")
    if k < 1:
        raise SiamkitError(f"the number of neighbours k must be at least 1, got {k}")
    depth = min(int(k), n - 1)
    normalized = l2_normalize(array)
    indices, distances = [], []
    for rows in _query_blocks(n):
        ranked, ranked_distances = _ranked_neighbours(normalized, rows, depth, seed)
        indices.append(ranked)
        distances.append(ranked_distances)
    return np.concatenate(indices), np.concatenate(distances).astype(np.float64)


def retrieval_metrics(embeddings, labels, ks=(1, 5, 10), seed: int = 0) -> dict:
    """Recall@K, precision@1 and MAP@R with each image querying all the others.

    Images at the same distance from a query are ranked in a random order seeded by ``seed``
    (ties broken at random, the same way as in triplet accuracy and one-shot), so a model that
    maps everything to one point scores chance (precision@1 about (R) / (n - 1)), not 0.

    Returns ``{"recall_at_k": {"1": ..}, "precision_at_1", "map_at_r", "queries",
    "excluded_queries"}``. precision@1 equals recall@1 by definition; both are kept because
    papers report one or the other. A K larger than the gallery counts the whole gallery.
    """
    array, label_array = check_embeddings(embeddings, labels)
    _, codes = np.unique(label_array, return_inverse=True)
    codes = codes.reshape(-1)
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise SiamkitError(f"retrieval cut-offs K must be positive integers, got {ks}")
    relevant = np.bincount(codes)[codes] - 1  # R: other images with the query's identity
    answerable = np.flatnonzero(relevant > 0)
    if len(answerable) == 0:
        raise SiamkitError("retrieval needs an identity with at least 2 images; every identity has only one")
    n = len(array)
    depth = min(n - 1, max(ks[-1], int(relevant.max())))
    normalized = l2_normalize(array)
    recall_hits = {k: 0 for k in ks}
    first_hits = 0
    average_precision_sum = 0.0
    for rows in _query_blocks(n):
        rows = rows[relevant[rows] > 0]
        if len(rows) == 0:
            continue
        ranked, _ = _ranked_neighbours(normalized, rows, depth, seed)
        hits = codes[ranked] == codes[rows][:, None]
        for k in ks:
            recall_hits[k] += int(hits[:, :k].any(axis=1).sum())
        first_hits += int(hits[:, 0].sum())
        average_precision_sum += float(_average_precision_at_r(hits, relevant[rows]).sum())
    queries = len(answerable)
    return {
        "recall_at_k": {str(k): recall_hits[k] / queries for k in ks},
        "precision_at_1": first_hits / queries,
        "map_at_r": average_precision_sum / queries,
        "queries": int(queries),
        "excluded_queries": int(n - queries),
    }


def _average_precision_at_r(hits: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """AP@R per query: (1/R) * sum over ranks i <= R of precision@i, counted at hits only."""
    depth = hits.shape[1]
    ranks = np.arange(1, depth + 1)
    within_r = ranks[None, :] <= relevant[:, None]
    counted = hits & within_r
    precision_at_rank = np.cumsum(counted, axis=1) / ranks[None, :]
    return (precision_at_rank * counted).sum(axis=1) / relevant
