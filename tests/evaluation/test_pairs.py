import numpy as np
import pytest

from siamkit.errors import SiamkitError
from siamkit.evaluation import make_triplets, make_verification_pairs


def test_all_positive_pairs_and_as_many_negatives():
    labels = np.array([0, 0, 0, 1, 1, 2])
    idx_a, idx_b, same = make_verification_pairs(labels)
    # identity 0 has C(3,2) = 3 pairs, identity 1 has 1, identity 2 none -> 4 positives, 4 negatives
    assert same.sum() == 4 and (~same).sum() == 4
    assert idx_a.dtype == np.int64 and idx_b.dtype == np.int64 and same.dtype == bool
    assert np.all(idx_a != idx_b)
    assert np.array_equal(labels[idx_a] == labels[idx_b], same)
    positives = {tuple(sorted(p)) for p in zip(idx_a[same].tolist(), idx_b[same].tolist())}
    assert positives == {(0, 1), (0, 2), (1, 2), (3, 4)}
    all_pairs = {tuple(sorted(p)) for p in zip(idx_a.tolist(), idx_b.tolist())}
    assert len(all_pairs) == len(idx_a)  # no pair drawn twice


def test_max_pairs_is_seeded():
    labels = np.repeat(np.arange(20), 6)  # 20 * 15 = 300 positive pairs available
    first = make_verification_pairs(labels, max_pairs=50, seed=3)
    again = make_verification_pairs(labels, max_pairs=50, seed=3)
    other = make_verification_pairs(labels, max_pairs=50, seed=4)
    assert first[2].sum() == 50 and (~first[2]).sum() == 50
    for x, y in zip(first, again):
        assert np.array_equal(x, y)
    assert not np.array_equal(first[0], other[0])
    assert np.all(first[0] != first[1])
    assert np.array_equal(labels[first[0]] == labels[first[1]], first[2])


def test_string_labels_and_scarce_negatives():
    labels = np.array(["cat"] * 10 + ["dog"])  # 45 positive pairs but only 10 different pairs exist
    idx_a, idx_b, same = make_verification_pairs(labels)
    assert same.sum() == 45 and (~same).sum() == 10
    assert np.array_equal(labels[idx_a] == labels[idx_b], same)


@pytest.mark.parametrize("labels", [[0, 0, 0], [0, 1, 2, 3]])
def test_pairs_refuse_unusable_labels(labels):
    with pytest.raises(SiamkitError):
        make_verification_pairs(labels)


def test_triplets_anchor_never_equals_positive():
    labels = np.array([0, 0, 1, 1, 1, 2, 3])  # identities 2 and 3 have a single image
    anchor, positive, negative = make_triplets(labels, n=2000, seed=1)
    assert np.all(anchor != positive)
    assert np.all(labels[anchor] == labels[positive])
    assert np.all(labels[anchor] != labels[negative])
    # single-image identities can only ever be negatives
    assert not np.isin(anchor, [5, 6]).any() and not np.isin(positive, [5, 6]).any()
    assert np.isin(negative, [5, 6]).any()
    # every other image of identity 1 is used as a positive for anchor 2
    assert set(positive[anchor == 2].tolist()) == {3, 4}


def test_triplets_are_seeded():
    labels = np.repeat(np.arange(5), 3)
    first, again = make_triplets(labels, n=100, seed=7), make_triplets(labels, n=100, seed=7)
    for x, y in zip(first, again):
        assert np.array_equal(x, y)


@pytest.mark.parametrize("labels", [[0, 0], [0, 1, 2]])
def test_triplets_refuse_unusable_labels(labels):
    with pytest.raises(SiamkitError):
        make_triplets(labels, n=10)
