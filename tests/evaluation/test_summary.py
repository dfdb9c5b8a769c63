import json
import logging

import numpy as np
import pytest

from siamkit.errors import SiamkitError
from siamkit.evaluation import evaluate_embeddings, threshold_from_validation, verification_pairs
from siamkit.evaluation import summary as summary_module
from siamkit.evaluation import verification as verification_module

from .conftest import clustered


def test_full_evaluation_is_json_ready_and_skips_unsupported_ways():
    val_embeddings, val_labels = clustered(8, 4, noise=0.2, seed=1)
    test_embeddings, test_labels = clustered(8, 4, noise=0.2, seed=2)
    threshold = threshold_from_validation(val_embeddings, val_labels, rule="eer")
    result = evaluate_embeddings(test_embeddings, test_labels, threshold, "eer", ways=(5, 20), episodes=50)
    json.dumps(result, allow_nan=False)
    assert set(result) >= {"verification", "retrieval", "one_shot", "triplet_accuracy", "skipped"}
    assert result["verification"]["threshold"] == threshold
    assert result["verification"]["threshold_rule"] == "eer"
    assert list(result["one_shot"]) == ["5"]  # only 8 identities: 20-way is impossible
    assert result["skipped"][0]["metric"] == "one_shot" and result["skipped"][0]["ways"] == 20
    assert result["retrieval"]["recall_at_k"]["1"] == 1.0
    assert result["test_images"] == 32 and result["test_identities"] == 8


def test_evaluation_never_chooses_a_threshold_from_test_labels(monkeypatch):
    val_embeddings, val_labels = clustered(6, 3, noise=0.3, seed=1)
    threshold = threshold_from_validation(val_embeddings, val_labels)

    def forbidden(*args, **kwargs):
        raise AssertionError("the test set must not choose its own threshold")

    monkeypatch.setattr(summary_module, "choose_threshold", forbidden)
    monkeypatch.setattr(verification_module, "choose_threshold", forbidden)
    test_embeddings, test_labels = clustered(6, 3, noise=0.3, seed=2)
    shuffled = np.random.default_rng(0).permutation(test_labels)
    for labels in (test_labels, shuffled):
        result = evaluate_embeddings(test_embeddings, labels, threshold, "max_accuracy", ways=(5,), episodes=20)
        assert result["verification"]["threshold"] == threshold


def test_pairs_are_reproducible_for_plots():
    embeddings, labels = clustered(5, 4, noise=0.3)
    first = verification_pairs(embeddings, labels, max_pairs=10, seed=1)
    again = verification_pairs(embeddings, labels, max_pairs=10, seed=1)
    for x, y in zip(first, again):
        assert np.array_equal(x, y)


def test_bad_embeddings_are_user_errors():
    embeddings, labels = clustered(5, 4)
    with pytest.raises(SiamkitError):
        evaluate_embeddings(embeddings, labels[:-1], 0.5, "max_accuracy")
    embeddings[3, 1] = np.nan
    with pytest.raises(SiamkitError):
        evaluate_embeddings(embeddings, labels, 0.5, "max_accuracy")


def test_within_group_one_shot_also_reports_episodes_across_groups():
    embeddings, labels = clustered(8, 4, noise=0.4, seed=3)
    groups = np.asarray(["greek" if int(label) < 4 else "latin" for label in labels])
    result = evaluate_embeddings(embeddings, labels, 0.5, "eer", test_groups=groups, ways=(3, 5), episodes=40, within_group=True)
    assert list(result["one_shot"]) == ["3"] and result["one_shot"]["3"]["within_group"] is True
    assert list(result["one_shot_across_groups"]) == ["3", "5"]
    assert result["one_shot_across_groups"]["5"]["within_group"] is False
    assert [s["metric"] for s in result["skipped"]] == ["one_shot (within group)"]


def test_few_test_identities_are_warned_about(caplog):
    embeddings, labels = clustered(6, 4, noise=0.3, seed=2)
    with caplog.at_level(logging.WARNING, logger="siamkit"):
        result = evaluate_embeddings(embeddings, labels, 0.5, "eer", ways=(5,), episodes=20)
    assert any("only 6 test identities" in warning for warning in result["warnings"])
    assert any(r.levelno == logging.WARNING and r.name.startswith("siamkit") and "only 6 test identities" in r.getMessage()
               for r in caplog.records)
    enough, enough_labels = clustered(12, 3, noise=0.3, seed=2)
    assert evaluate_embeddings(enough, enough_labels, 0.5, "eer", ways=(5,), episodes=20)["warnings"] == []
