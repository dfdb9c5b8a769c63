import json

import numpy as np
import pytest

from siamkit.errors import SiamkitError
from siamkit.evaluation import (
    choose_threshold,
    hardest_false_matches,
    pair_distances,
    threshold_from_validation,
    verification_metrics,
)

from .conftest import clustered

# Eight pairs sorted by distance; "same" is True for the 1st, 2nd, 3rd and 6th.
DISTANCES = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
SAME = np.array([True, True, True, False, False, True, False, False])


def test_pair_distances_use_normalised_embeddings():
    embeddings = np.array([[1.0, 0.0], [0.0, 3.0], [5.0, 0.0]])
    distances = pair_distances(embeddings, [0, 0], [1, 2])
    # (1,0) vs (0,1) after normalising: sqrt(2); (1,0) vs (5,0) -> same direction: 0
    assert distances == pytest.approx([np.sqrt(2.0), 0.0], abs=1e-6)


def test_perfect_separator_has_auc_one_and_eer_zero():
    distances = np.array([0.1, 0.2, 0.3, 0.9, 1.0, 1.1])
    same = np.array([True, True, True, False, False, False])
    threshold = choose_threshold(distances, same)
    assert 0.3 < threshold < 0.9
    result = verification_metrics(distances, same, threshold)
    assert result["roc_auc"] == 1.0
    assert result["eer"] == 0.0
    # 3 different-identity pairs cannot show a false accept rate of 1% or 0.1%.
    assert result["tpr_at_fpr"] == {"0.01": None, "0.001": None}
    assert result["accuracy"] == 1.0 and result["f1"] == 1.0


def test_known_confusion_matrix_at_a_given_threshold():
    result = verification_metrics(DISTANCES, SAME, threshold=0.45)
    # accepted as "same": 0.1..0.4 -> tp = 3 (0.1, 0.2, 0.3), fp = 1 (0.4);
    # rejected: 0.5..0.8 -> fn = 1 (0.6), tn = 3 (0.5, 0.7, 0.8)
    assert result["confusion_matrix"] == [[3, 1], [1, 3]]
    assert result["accuracy"] == pytest.approx(6 / 8)
    assert result["precision"] == pytest.approx(3 / 4)
    assert result["recall"] == pytest.approx(3 / 4)
    assert result["f1"] == pytest.approx(3 / 4)
    assert result["threshold"] == 0.45
    assert result["pairs"] == 8 and result["positive_pairs"] == 4
    assert "same" in result["classification_report"] and "different" in result["classification_report"]
    # ROC AUC by hand: of the 16 (same, different) combinations the "same" pair is closer in
    # all except 0.6 vs 0.4 and 0.6 vs 0.5 -> 14 / 16
    assert result["roc_auc"] == pytest.approx(14 / 16)


@pytest.mark.parametrize(
    "rule, expected",
    [
        # accept <= 0.3: 3 tp, 0 fp -> 7/8 correct (best); halfway to the next distance is 0.35
        ("max_accuracy", 0.35),
        # F1 at <= 0.3 is 6/7 = 0.857 vs 8/10 at <= 0.6 -> 0.35 again
        ("max_f1", 0.35),
        # at <= 0.4 false accept rate 1/4 equals false reject rate 1/4 -> halfway to 0.5
        ("eer", 0.45),
    ],
)
def test_threshold_rules_by_hand(rule, expected):
    assert choose_threshold(DISTANCES, SAME, rule=rule) == pytest.approx(expected)


def test_threshold_rule_and_inputs_are_checked():
    with pytest.raises(SiamkitError):
        choose_threshold(DISTANCES, SAME, rule="median")
    with pytest.raises(SiamkitError):
        choose_threshold(DISTANCES, np.ones(8, bool))
    with pytest.raises(SiamkitError):
        verification_metrics(DISTANCES, SAME, threshold=float("nan"))


def test_threshold_comes_only_from_validation_data():
    val_embeddings, val_labels = clustered(6, 4, noise=0.3, seed=1)
    test_embeddings, test_labels = clustered(6, 4, noise=0.3, seed=2)
    threshold = threshold_from_validation(val_embeddings, val_labels)
    # Shuffling the *test* labels cannot move a threshold chosen on validation pairs ...
    shuffled = np.random.default_rng(0).permutation(test_labels)
    assert threshold_from_validation(val_embeddings, val_labels) == threshold
    # ... and verification_metrics reports exactly the threshold it was given, whatever the labels.
    idx = np.arange(len(test_labels))
    distances = pair_distances(test_embeddings, idx[:-1], idx[1:])
    for labels in (test_labels, shuffled):
        same = labels[:-1] == labels[1:]
        assert verification_metrics(distances, same, threshold)["threshold"] == threshold


def test_hardest_false_matches_are_closest_different_pairs():
    found = hardest_false_matches(DISTANCES, SAME, np.arange(8), np.arange(8) + 10, count=2)
    assert found == [{"a": 3, "b": 13, "distance": 0.4}, {"a": 4, "b": 14, "distance": 0.5}]


def test_metrics_are_json_serialisable():
    result = verification_metrics(DISTANCES, SAME, threshold=0.45)
    json.dumps(result, allow_nan=False)
    assert len(result["roc"]["fpr"]) == len(result["roc"]["tpr"]) >= 2


def test_pair_distances_in_chunks_match_the_direct_formula(monkeypatch):
    from siamkit.evaluation import verification

    monkeypatch.setattr(verification, "_PAIRS_PER_CHUNK", 7)
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(20, 5))
    idx_a, idx_b = rng.integers(0, 20, size=50), rng.integers(0, 20, size=50)
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    expected = np.linalg.norm(unit[idx_a] - unit[idx_b], axis=1)
    assert np.allclose(verification.pair_distances(embeddings, idx_a, idx_b), expected, atol=1e-6)


def test_eer_is_read_on_the_full_curve_where_fpr_meets_fnr():
    # Issue 12: sorted by distance the pairs are ppppnnppnnnnnnppppnn (10 same, 10 different).
    # Accepting the first 10 gives 6 true accepts and 4 false accepts: FPR = FNR = 0.40 exactly.
    # The thinned ROC curve has no point there and read 0.30 off the nearest remaining one.
    order = "ppppnnppnnnnnnppppnn"
    same = np.array([c == "p" for c in order])
    result = verification_metrics(np.arange(20) / 20.0, same, threshold=0.5)
    assert result["eer"] == pytest.approx(0.4)


def test_eer_interpolates_between_curve_points():
    # Pairs: same at 0.1; two same and one different tied at 0.5; two different at 0.9.
    # Accept <= 0.1: FPR 0, FNR 2/3. Accept <= 0.5: FPR 1/3, FNR 0. No threshold has FPR = FNR;
    # the line between those two points crosses it at t = 2/3: EER = 2/9.
    distances = [0.1, 0.5, 0.5, 0.5, 0.9, 0.9]
    same = [True, True, True, False, False, False]
    assert verification_metrics(distances, same, 0.3)["eer"] == pytest.approx(2 / 9)


def test_tpr_at_fpr_uses_every_point_of_the_curve():
    # 1000 same + 1000 different pairs. Accepting distance <= 0.2 lets in 2 same pairs and 1
    # different pair (tied at 0.2): FPR 0.001, TPR 0.002. The thinned curve dropped that point.
    distances = np.concatenate([[0.1, 0.2, 0.2, 0.3, 0.3], np.linspace(0.4, 1.0, 997), np.linspace(0.4, 1.6, 998)])
    same = np.concatenate([[True, True, False, True, False], np.ones(997, bool), np.zeros(998, bool)])
    result = verification_metrics(distances, same, threshold=0.5)
    assert result["tpr_at_fpr"]["0.001"] == pytest.approx(0.002)


def test_operating_points_the_pairs_cannot_support_are_not_numbers():
    # 150 different-identity pairs: FPR 1% is 1.5 false accepts (measurable), FPR 0.1% is 0.15
    # (not measurable: it would silently equal TPR at FPR 0).
    rng = np.random.default_rng(0)
    distances = np.concatenate([rng.normal(0.5, 0.2, 150), rng.normal(1.0, 0.2, 150)])
    same = np.concatenate([np.ones(150, bool), np.zeros(150, bool)])
    result = verification_metrics(distances, same, threshold=0.75)
    assert isinstance(result["tpr_at_fpr"]["0.01"], float)
    assert result["tpr_at_fpr"]["0.001"] is None
    reason = result["tpr_at_fpr_not_measurable"]["0.001"]
    assert "not measurable with 150 negative pairs" in reason
    assert "0.01" not in result["tpr_at_fpr_not_measurable"]
    json.dumps(result, allow_nan=False)
