"""Cross-validation folds cut the development images only, each unit into exactly one fold."""

from __future__ import annotations

import pytest

from siamkit.data.cv_folds import development_folds, fold_unit
from siamkit.data.dataset import scan_dataset
from siamkit.data.splits import make_split
from siamkit.errors import SiamkitError
from tests.conftest import make_identity_images


def _labels(dataset, paths):
    label_of = {r.path: r.label for r in dataset.records}
    return {label_of[p] for p in paths}


def test_identity_folds_hold_each_development_identity_out_once_and_never_touch_test(tmp_path):
    dataset = scan_dataset(make_identity_images(tmp_path / "data", identities=12, per_identity=3))
    split = make_split(dataset, "identity", "0.5,0.25,0.25", seed=0)
    folds = development_folds(dataset, split, 3, seed=0)

    development = _labels(dataset, split.train + split.val)
    held_out = [_labels(dataset, fold.val) for fold in folds]
    assert sorted(label for labels in held_out for label in labels) == sorted(development)  # each exactly once
    for fold, labels in zip(folds, held_out):
        assert not labels & _labels(dataset, fold.train)  # open-set inside each fold too
        assert fold.test == split.test
        assert not _labels(dataset, fold.train + fold.val) & _labels(dataset, split.test)
        assert sorted(fold.train + fold.val) == sorted(split.train + split.val)
        assert "cross-validation fold" in fold.protocol and fold.identity_counts["val"] >= 2
    assert fold_unit(split) == "identity"
    # seeded: the same folds again
    assert [f.val for f in development_folds(dataset, split, 3, seed=0)] == [f.val for f in folds]


def test_closed_set_folds_deal_each_identitys_images_over_the_folds(tmp_path):
    dataset = scan_dataset(make_identity_images(tmp_path / "data", identities=4, per_identity=8))
    split = make_split(dataset, "image", "0.6,0.2,0.2", seed=0)
    folds = development_folds(dataset, split, 2, seed=1)

    assert fold_unit(split) == "image"
    assert sorted(p for fold in folds for p in fold.val) == sorted(split.train + split.val)
    for fold in folds:
        assert _labels(dataset, fold.val) == _labels(dataset, fold.train) == _labels(dataset, split.train)
        assert not set(fold.val) & set(fold.train)


def test_too_many_folds_is_a_user_error(tmp_path):
    dataset = scan_dataset(make_identity_images(tmp_path / "data", identities=6, per_identity=3))
    split = make_split(dataset, "identity", "0.5,0.25,0.25", seed=0)
    with pytest.raises(SiamkitError, match="--folds 5"):
        development_folds(dataset, split, 5)
    with pytest.raises(SiamkitError, match="at least 2 folds"):
        development_folds(dataset, split, 1)
