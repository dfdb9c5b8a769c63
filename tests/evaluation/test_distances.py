"""One distance everywhere: siamkit.distances' formulas agree with each other, and evaluation,
gallery search and ``SiameseModel.compare_embeddings`` all give its numbers."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from siamkit import distances
from siamkit.evaluation import pair_distances
from siamkit.evaluation.retrieval import nearest_neighbours
from siamkit.search import GalleryIndex


def _embeddings(n: int = 40, dim: int = 16, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, dim)).astype(np.float32)


def test_the_formulas_agree_with_each_other():
    unit = distances.l2_normalize(_embeddings())
    assert unit.dtype == np.float32 and np.allclose(np.linalg.norm(unit, axis=1), 1.0, atol=1e-6)
    queries, gallery = unit[:20], unit[20:]  # different images: no pair at distance ~0
    cosine = queries @ gallery.T
    direct = np.linalg.norm(queries[:, None, :] - gallery[None, :, :], axis=-1)
    assert np.allclose(distances.cosine_to_distance(cosine), direct, atol=1e-5)
    assert np.allclose(distances.distance_to_similarity(direct), distances.cosine_to_similarity(cosine), atol=1e-6)
    assert np.array_equal(distances.unit_distance(queries, gallery), np.diagonal(direct))
    assert distances.distance_to_similarity(0.0) == 1.0 and distances.distance_to_similarity(2.0) == 0.0
    # float32 rounding can put cos a hair over one for an image and itself: distance 0, not NaN
    assert distances.cosine_to_distance(np.float32([1.0000001]))[0] == 0.0


def test_formulas_keep_the_dtype_they_are_given():
    unit = distances.l2_normalize(_embeddings(4))
    assert distances.unit_distance(unit[0], unit[1]).dtype == np.float32
    assert distances.cosine_to_distance(unit[:2] @ unit[2:].T).dtype == np.float32


def test_raw_embeddings_are_normalised_before_measuring():
    raw = _embeddings(2)
    assert distances.embedding_distance(raw[0] * 7.0, raw[1]) == pytest.approx(
        float(distances.unit_distance(*distances.l2_normalize(raw))), abs=1e-6
    )


def test_evaluation_search_and_compare_give_the_same_distance():
    from siamkit.inference.siamese_model import SiameseModel

    embeddings = _embeddings()
    first, second = np.arange(0, 20), np.arange(20, 40)
    evaluated = pair_distances(embeddings, first, second)
    # compare_embeddings reads only the threshold from the model; the distance is its own formula
    model = SiameseModel.__new__(SiameseModel)
    model.config = type("Config", (), {"threshold": 1.0})()
    compared = [model.compare_embeddings(embeddings[a], embeddings[b]) for a, b in zip(first, second)]
    assert [c.distance for c in compared] == evaluated.tolist()  # the same float32 arithmetic
    assert [c.similarity for c in compared] == pytest.approx(distances.distance_to_similarity(evaluated).tolist(), abs=1e-12)

    paths = [f"img/{i}.png" for i in range(len(embeddings))]
    hashes = [hashlib.sha256(p.encode()).hexdigest() for p in paths]
    index = GalleryIndex.build(embeddings[second], paths[20:], ["x"] * 20, hashes[20:], "model@test")
    for query, target, expected in zip(first, second, evaluated):
        hit = next(h for h in index.search(embeddings[query], k=20)[0] if h["path"] == paths[target])
        # search goes through the cosine (FAISS ranks by inner product): equal up to float32
        # rounding, which sqrt(2 - 2 cos) amplifies only for near-identical images
        assert hit["distance"] == pytest.approx(expected, abs=1e-5)


def test_retrieval_reports_the_shared_distance():
    embeddings = _embeddings()
    indices, found = nearest_neighbours(embeddings, 3)
    unit = distances.l2_normalize(embeddings)
    expected = distances.unit_distance(unit[:, None, :], unit[indices])
    assert np.allclose(found, expected, atol=1e-5)
