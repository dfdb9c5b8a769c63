import numpy as np
import pytest

from siamkit.errors import SiamkitError
from siamkit.evaluation import nearest_neighbours, retrieval_metrics
from siamkit.evaluation import retrieval as retrieval_module

from .conftest import clustered


def on_circle(degrees):
    radians = np.deg2rad(degrees)
    return np.stack([np.cos(radians), np.sin(radians)], axis=1)


# Unit vectors at these angles: distance grows with the angle between them, so rankings can be
# read off by hand. Identity A at 0, 12, 30 degrees; B at 45, 100; C (alone) at 210.
ANGLES = [0, 12, 45, 30, 100, 210]
LABELS = ["A", "A", "B", "A", "B", "C"]


def test_hand_built_recall_precision_and_map_at_r():
    # Rankings of the other images (by angle gap), hits marked *; R = other images of same identity:
    #   q0 (A,   0): 1* 3* 2 4 5      R=2  AP@R = (1/1 + 2/2) / 2 = 1
    #   q1 (A,  12): 0* 3* 2 4 5      R=2  AP@R = 1
    #   q3 (A,  30): 2 1* 0* 4 5      R=2  AP@R = (0 + 1/2) / 2 = 0.25
    #   q2 (B,  45): 3 1 0 4* 5       R=1  AP@R = 0
    #   q4 (B, 100): 2* 3 1 0 5       R=1  AP@R = 1
    #   q5 (C, 210): no other C image -> not a query
    # Recall@1 = 3/5 (q0, q1, q4); Recall@3 = 4/5 (all but q2); Recall@5 = 5/5
    # MAP@R = (1 + 1 + 0.25 + 0 + 1) / 5 = 0.65
    result = retrieval_metrics(on_circle(ANGLES), LABELS, ks=(1, 3, 5))
    assert result["recall_at_k"] == pytest.approx({"1": 0.6, "3": 0.8, "5": 1.0})
    assert result["precision_at_1"] == pytest.approx(0.6)
    assert result["map_at_r"] == pytest.approx(0.65)
    assert result["queries"] == 5 and result["excluded_queries"] == 1


def test_k_beyond_gallery_counts_whole_gallery():
    result = retrieval_metrics(on_circle(ANGLES), LABELS, ks=(1, 50))
    assert result["recall_at_k"]["50"] == 1.0


def test_nearest_neighbours_exclude_self():
    indices, distances = nearest_neighbours(on_circle(ANGLES), k=2)
    assert indices[0].tolist() == [1, 3] and indices[3].tolist() == [2, 1]
    assert np.all(indices != np.arange(6)[:, None])
    assert np.all(np.diff(distances, axis=1) >= 0)


def test_chunked_distance_matrix_gives_same_numbers(monkeypatch):
    embeddings, labels = clustered(30, 4, noise=0.4, seed=3)
    whole = retrieval_metrics(embeddings, labels)
    assert 0 < whole["map_at_r"] < 1  # a case where the ranking actually matters
    monkeypatch.setattr(retrieval_module, "_MAX_BLOCK_CELLS", 500)  # a handful of queries per block
    blocked = retrieval_metrics(embeddings, labels)
    assert blocked["recall_at_k"] == pytest.approx(whole["recall_at_k"])
    assert blocked["map_at_r"] == pytest.approx(whole["map_at_r"])
    assert blocked["precision_at_1"] == pytest.approx(whole["precision_at_1"])


def test_map_at_r_matches_pytorch_metric_learning():
    torch = pytest.importorskip("torch")
    calculator_module = pytest.importorskip("pytorch_metric_learning.utils.accuracy_calculator")
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 15, size=120)
    embeddings = (rng.normal(size=(15, 8))[labels] + rng.normal(size=(120, 8))).astype(np.float32)
    ours = retrieval_metrics(embeddings, labels)
    calculator = calculator_module.AccuracyCalculator(
        include=("mean_average_precision_at_r", "precision_at_1"), k="max_bin_count"
    )
    normalized = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    theirs = calculator.get_accuracy(torch.from_numpy(normalized), torch.from_numpy(labels))
    assert ours["map_at_r"] == pytest.approx(theirs["mean_average_precision_at_r"], abs=1e-6)
    assert ours["precision_at_1"] == pytest.approx(theirs["precision_at_1"], abs=1e-6)


def test_retrieval_refuses_all_singletons():
    with pytest.raises(SiamkitError):
        retrieval_metrics(np.eye(3), [0, 1, 2])


def test_collapsed_embeddings_still_rank_every_query():
    # Every embedding identical: all distances tie, so any 3 other images are a valid answer.
    indices, distances = nearest_neighbours(np.ones((50, 4)), k=3)
    assert indices.shape == (50, 3) and np.all(indices != np.arange(50)[:, None])
    assert all(len(set(row)) == 3 for row in indices.tolist())
    assert np.allclose(distances, 0.0, atol=1e-3)
    result = retrieval_metrics(np.ones((50, 4)), np.repeat(np.arange(10), 5))
    assert 0 <= result["map_at_r"] <= 1


def test_collapsed_model_scores_chance_not_zero():
    # 10 identities x 5 images all at one point: every other image ties. Ties are broken at
    # random (seeded), so each ranking metric sits near chance: precision@1 ~ 4/49 = 0.08,
    # recall@5 ~ 1 - C(45,5)/C(49,5) = 0.36, MAP@R ~ 0.08. Breaking ties by image index gave 0.
    labels = np.repeat(np.arange(10), 5)
    result = retrieval_metrics(np.ones((50, 4)), labels, ks=(1, 5))
    assert 0.02 < result["precision_at_1"] < 0.2
    assert 0.2 < result["recall_at_k"]["5"] < 0.55
    assert 0.03 < result["map_at_r"] < 0.15
    assert result == retrieval_metrics(np.ones((50, 4)), labels, ks=(1, 5))


def test_tie_breaking_is_seeded():
    labels = np.repeat(np.arange(10), 5)
    collapsed = np.ones((50, 4))
    assert retrieval_metrics(collapsed, labels, seed=3) == retrieval_metrics(collapsed, labels, seed=3)
    assert retrieval_metrics(collapsed, labels, seed=3) != retrieval_metrics(collapsed, labels, seed=4)
    indices, _ = nearest_neighbours(collapsed, k=3, seed=3)
    assert np.array_equal(indices, nearest_neighbours(collapsed, k=3, seed=3)[0])
