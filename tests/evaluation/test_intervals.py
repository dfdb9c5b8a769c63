import numpy as np
import pytest

from siamkit.evaluation import evaluate_embeddings, one_shot_accuracy
from siamkit.evaluation.intervals import identity_bootstrap, wilson_interval

from .conftest import clustered


@pytest.mark.parametrize(
    "successes, trials, low, high",
    [
        (0, 5, 0.0, 0.4345),  # the normal approximation gives 0 +- 0
        (5, 5, 0.5655, 1.0),
        (8, 10, 0.4902, 0.9433),
        (200, 200, 0.9812, 1.0),
    ],
)
def test_wilson_interval_known_values(successes, trials, low, high):
    assert wilson_interval(successes, trials) == pytest.approx((low, high), abs=1e-4)


def test_one_shot_interval_is_wilson_and_stays_inside_zero_one():
    embeddings, labels = clustered(25, 3)
    perfect = one_shot_accuracy(embeddings, labels, ways=20, episodes=200)
    assert perfect["accuracy"] == 1.0
    assert perfect["ci95_low"] == pytest.approx(0.9812, abs=1e-4) and perfect["ci95_high"] == 1.0
    assert perfect["ci95"] > 0  # no longer "1.0000 +- 0.0000"
    collapsed = one_shot_accuracy(np.ones((20, 4)), np.repeat(np.arange(10), 2), ways=5, episodes=3)
    assert 0.0 <= collapsed["ci95_low"] <= collapsed["accuracy"] <= collapsed["ci95_high"] <= 1.0


def _pairs_of(labels):
    i, j = np.triu_indices(len(labels), k=1)
    return i, j, labels[i] == labels[j]


def test_identity_bootstrap_brackets_the_estimate_and_is_seeded():
    embeddings, labels = clustered(12, 4, noise=0.5, seed=3)
    i, j, same = _pairs_of(labels)
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    distances = np.linalg.norm(unit[i] - unit[j], axis=1)
    first = identity_bootstrap(distances, same, labels[i], labels[j], resamples=200, seed=0)
    assert first == identity_bootstrap(distances, same, labels[i], labels[j], resamples=200, seed=0)
    low, high = first["roc_auc"]
    assert 0.5 < low < high <= 1.0
    low, high = first["eer"]
    assert 0.0 <= low < high < 0.5
    assert first["resamples"] == 200 and first["identities"] == 12


def test_identity_bootstrap_resamples_identities_not_pairs():
    # Every identity but one is perfectly separated; the odd one's same pairs are far apart.
    # Resamples that leave that identity out score exactly 1, which a pair-level bootstrap
    # (always some of its pairs present) would almost never give.
    labels = np.repeat(np.arange(10), 4)
    rng = np.random.default_rng(0)
    i, j, same = _pairs_of(labels)
    distances = np.where(same, rng.uniform(0.0, 0.5, len(same)), rng.uniform(1.0, 1.5, len(same)))
    odd = same & (labels[i] == 0)
    distances[odd] = rng.uniform(1.2, 2.0, odd.sum())
    result = identity_bootstrap(distances, same, labels[i], labels[j], resamples=200, seed=1)
    assert result["roc_auc"][1] == 1.0 and result["eer"][0] == 0.0
    assert result["roc_auc"][0] < 0.99


def test_perfect_separation_has_a_degenerate_interval():
    labels = np.repeat(np.arange(6), 3)
    i, j, same = _pairs_of(labels)
    distances = np.where(same, 0.1, 1.0)
    result = identity_bootstrap(distances, same, labels[i], labels[j])
    assert result["roc_auc"] == [1.0, 1.0] and result["eer"] == [0.0, 0.0]


def test_evaluation_reports_auc_and_eer_intervals():
    embeddings, labels = clustered(12, 4, noise=0.5, seed=3)
    verification = evaluate_embeddings(embeddings, labels, 0.8, "eer", ways=(5,), episodes=20)["verification"]
    assert verification["roc_auc_ci95"][0] <= verification["roc_auc"] <= verification["roc_auc_ci95"][1]
    assert verification["eer_ci95"][0] <= verification["eer"] <= verification["eer_ci95"][1]
    assert "identities" in verification["ci95_method"]
