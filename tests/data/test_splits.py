import pytest

from siamkit.data.dataset import scan_dataset
from siamkit.data.splits import Split, make_split, parse_fold, parse_fractions, split_by_identity, split_within_identity
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


def _grouped(tmp_path, groups=6, per_group=4):
    for group in range(groups):
        make_identity_images(tmp_path / f"alphabet_{group}", identities=per_group, per_identity=2, seed=group)
    return scan_dataset(tmp_path)


def test_split_by_group_keeps_whole_groups_apart(tmp_path):
    dataset = _grouped(tmp_path)
    split = make_split(dataset, "group", "0.5,0.25,0.25", 0)
    group_of = {r.path: r.group for r in dataset.records}
    groups = {name: {group_of[p] for p in split.paths(name)} for name in ("train", "val", "test")}
    assert not (groups["train"] & groups["test"]) and not (groups["train"] & groups["val"]) and not (groups["val"] & groups["test"])
    assert split.protocol == "open-set by group" and split.group_counts == {"train": 2, "val": 2, "test": 2}
    split.save(tmp_path / "split.json", dataset.root)
    assert Split.load(tmp_path / "split.json").groups == split.groups


def test_split_by_group_needs_group_folders(tmp_path):
    dataset = scan_dataset(make_identity_images(tmp_path, identities=8, per_identity=2))
    with pytest.raises(SiamkitError, match="group folder"):
        make_split(dataset, "group", "0.5,0.25,0.25", 0)


def test_folds_test_every_identity_exactly_once(tmp_path):
    dataset = scan_dataset(make_identity_images(tmp_path, identities=20, per_identity=2))
    tested = []
    for fold in range(1, 6):
        split = make_split(dataset, "identity", "0.7,0.15,0.15", 4, f"{fold}/5")
        train, val, test = (_labels(dataset, split.paths(n)) for n in ("train", "val", "test"))
        assert len(test) == 4 and len(val) >= 2 and not (train & test) and not (val & test) and not (train & val)
        tested += sorted(test)
    assert sorted(tested) == sorted({r.label for r in dataset.records})


@pytest.mark.parametrize("text", ["6/5", "0/5", "1/1", "a/b", "3"])
def test_bad_folds(text):
    with pytest.raises(SiamkitError, match="--fold"):
        parse_fold(text)


def test_predefined_split_keeps_the_official_test_images(tmp_path):
    make_identity_images(tmp_path, identities=4, per_identity=10)
    rows = ["path,label,split"]
    for record in scan_dataset(tmp_path).records:
        part = "test" if record.path.endswith(("img_8.png", "img_9.png")) else "train"
        rows.append(f"{record.path},{record.label},{part}")
    (tmp_path / "list.csv").write_text("\n".join(rows) + "\n")
    dataset = scan_dataset(tmp_path / "list.csv")
    split = make_split(dataset, "auto", "0.8,0.2,0.0", 0)
    assert sorted(split.test) == sorted(r.path for r in dataset.records if r.split == "test")
    assert split.protocol.startswith("closed-set") and len(split.val) == 8 and len(split.train) == 24


def test_predefined_split_needs_marked_images(tmp_path):
    dataset = scan_dataset(make_identity_images(tmp_path, identities=4, per_identity=4))
    with pytest.raises(SiamkitError, match="marked train and test"):
        make_split(dataset, "predefined", "0.7,0.15,0.15", 0)
