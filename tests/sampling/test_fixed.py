import numpy as np
import pytest

from siamkit.errors import SiamkitError
from siamkit.sampling.fixed import balanced_pairs, fixed_triplets

LABELS = [0, 0, 1, 1, 1, 2, 2, 3]  # identity 3 has a single image: a negative only


def test_pairs_are_balanced_seeded_and_never_self():
    rows = balanced_pairs(LABELS, 200, seed=4)
    labels = np.asarray(LABELS)
    same = rows[:, 2] == 1
    assert same.sum() == 100
    assert np.all(labels[rows[same, 0]] == labels[rows[same, 1]])
    assert np.all(labels[rows[~same, 0]] != labels[rows[~same, 1]])
    assert np.all(rows[same, 0] != rows[same, 1])
    assert np.array_equal(rows, balanced_pairs(LABELS, 200, seed=4))


def test_triplets_anchor_is_never_the_positive():
    rows = fixed_triplets(LABELS, 500, seed=0)
    labels = np.asarray(LABELS)
    assert np.all(rows[:, 0] != rows[:, 1])
    assert np.all(labels[rows[:, 0]] == labels[rows[:, 1]])
    assert np.all(labels[rows[:, 0]] != labels[rows[:, 2]])
    assert 7 not in rows[:, 0]  # the single-image identity never anchors


def test_no_positive_pairs_possible():
    with pytest.raises(SiamkitError, match="2 or more images"):
        balanced_pairs([0, 1, 2], 4)
    with pytest.raises(SiamkitError, match="one identity"):
        fixed_triplets([0, 0, 0], 4)
