import pytest

from siamkit.data.dataset import scan_dataset
from siamkit.data.splits import Split, parse_fractions, split_by_identity, split_within_identity
from siamkit.errors import SiamkitError
from tests.conftest import make_identity_images


def _labels(dataset, paths):
    by_path = {r.path: r.label for r in dataset.records}
    return {by_path[p] for p in paths}


def test_no_identity_is_in_two_splits(tmp_path):
    dataset = scan_dataset(make_identity_images(tmp_path, identities=20, per_identity=3))
    split = split_by_identity(dataset, (0.7, 0.15, 0.15), seed=3)
    train, val, test = (_labels(dataset, split.paths(n)) for n in ("train", "val", "test"))
    assert not (train & val) and not (train & test) and not (val & test)
    assert len(train | val | test) == 20
    assert split.protocol == "open-set" and split.identity_counts == {"train": 14, "val": 3, "test": 3}


def test_split_is_seeded_and_round_trips(tmp_path):
    dataset = scan_dataset(make_identity_images(tmp_path / "d", identities=10, per_identity=2))
    first, second = split_by_identity(dataset, "0.6,0.2,0.2", 1), split_by_identity(dataset, "0.6,0.2,0.2", 1)
    assert first.train == second.train
    first.save(tmp_path / "split.json", dataset.root)
    loaded = Split.load(tmp_path / "split.json")
    assert sorted(loaded.test) == sorted(first.test) and loaded.protocol == "open-set"


def test_single_image_identities_are_only_negatives(tmp_path, caplog):
    make_identity_images(tmp_path, identities=8, per_identity=3)
    make_identity_images(tmp_path / "solo", identities=1, per_identity=1, seed=9)
    dataset = scan_dataset(tmp_path)
    split = split_by_identity(dataset, (0.5, 0.25, 0.25))
    assert sum(split.identity_counts.values()) == 8
    assert "single image" in caplog.text


def test_too_few_identities_names_the_split(tmp_path):
    dataset = scan_dataset(make_identity_images(tmp_path, identities=3, per_identity=3))
    with pytest.raises(SiamkitError, match=r"split '(val|test)' has"):
        split_by_identity(dataset)


def test_closed_set_keeps_every_identity_everywhere(tmp_path):
    dataset = scan_dataset(make_identity_images(tmp_path, identities=4, per_identity=10))
    split = split_within_identity(dataset, (0.6, 0.2, 0.2))
    assert split.protocol == "closed-set"
    assert _labels(dataset, split.train) == _labels(dataset, split.test) == _labels(dataset, split.val)
    assert not set(split.train) & set(split.test)


@pytest.mark.parametrize("text", ["0.5,0.5", "a,b,c", "0.9,0.2,0.1", "0,0.5,0.5"])
def test_bad_fractions(text):
    with pytest.raises(SiamkitError, match="--split"):
        parse_fractions(text)


def test_saved_split_matches_a_dataset_given_by_relative_path(tmp_path, monkeypatch):
    make_identity_images(tmp_path / "faces", identities=8, per_identity=2)
    monkeypatch.chdir(tmp_path)
    dataset = scan_dataset("faces")
    split = split_by_identity(dataset, (0.5, 0.25, 0.25))
    split.save(tmp_path / "split.json", dataset.root)
    reloaded = Split.load(tmp_path / "split.json")
    assert len(reloaded.subset(scan_dataset("faces"), "test")) == len(split.test) > 0
