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


def _predefined_csv(tmp_path, parts: dict[str, str]):
    """A CSV over 4-image identities id_00.. with the ``split`` column of ``parts[identity]``;
    a value such as ``val+test`` puts two images of that identity in each of the two parts."""
    make_identity_images(tmp_path / "imgs", identities=len(parts), per_identity=4)
    rows = ["path,label,split"]
    for record in scan_dataset(tmp_path / "imgs").records:
        names = parts[record.label].split("+")
        rows.append(f"{record.path},{record.label},{names[int(record.path[-5]) % len(names)]}")
    (tmp_path / "list.csv").write_text("\n".join(rows) + "\n")
    return scan_dataset(tmp_path / "list.csv")


@pytest.mark.parametrize(
    "shared, parts",
    [
        # validation {X, Y} and test {X, Y, Z}: the threshold would be tuned on two test identities
        ("val/test", {"id_00": "train", "id_01": "train", "id_02": "train", "id_03": "val+test", "id_04": "val+test",
                      "id_05": "test", "id_06": "test", "id_07": "train"}),
        ("train/val", {"id_00": "train+val", "id_01": "train+val", "id_02": "train", "id_03": "test", "id_04": "test",
                       "id_05": "train"}),
    ],
)
def test_predefined_split_checks_every_pair_of_parts_for_shared_identities(tmp_path, shared, parts):
    split = make_split(_predefined_csv(tmp_path, parts), "predefined", "0.7,0.15,0.15", 0)
    assert not split.protocol.startswith("open-set") and "open" not in split.protocol
    assert shared in split.protocol


def test_carving_validation_from_a_predefined_split_keeps_single_image_identities(tmp_path):
    # A 39-image training pool: 15 identities of 2 images and 9 of 1; test identities are others.
    make_identity_images(tmp_path / "pairs", identities=15, per_identity=2)
    make_identity_images(tmp_path / "singles", identities=9, per_identity=1, seed=3)
    make_identity_images(tmp_path / "tested", identities=4, per_identity=3, seed=5)
    rows = ["path,label,split"]
    for record in scan_dataset(tmp_path).records:
        rows.append(f"{record.path},{record.label},{'test' if record.label.startswith('tested') else 'train'}")
    (tmp_path / "list.csv").write_text("\n".join(rows) + "\n")
    dataset = scan_dataset(tmp_path / "list.csv")
    split = make_split(dataset, "predefined", "0.8,0.2,0.0", 0)
    assert split.protocol.startswith("open-set")
    assert len(split.train) + len(split.val) == 39 and len(split.test) == 12


def test_no_test_fraction_means_no_test_images_even_for_single_image_identities(tmp_path):
    make_identity_images(tmp_path / "pairs", identities=12, per_identity=2)
    make_identity_images(tmp_path / "singles", identities=12, per_identity=1, seed=3)
    dataset = scan_dataset(tmp_path)
    split = split_by_identity(dataset, (0.85, 0.15, 0.0), seed=0)
    assert split.test == [] and len(split.train) + len(split.val) == len(dataset)
    singles = {r.path for r in dataset.records if r.label.startswith("singles")}
    assert singles & set(split.val), "validation gets its share of the distractors"


def test_single_image_identities_rotate_across_folds(tmp_path):
    make_identity_images(tmp_path / "pairs", identities=10, per_identity=2)
    make_identity_images(tmp_path / "singles", identities=10, per_identity=1, seed=3)
    dataset = scan_dataset(tmp_path)
    tested = []
    for fold in range(1, 6):
        split = make_split(dataset, "identity", "0.7,0.15,0.15", 2, f"{fold}/5")
        assert len(split.train) + len(split.val) + len(split.test) == len(dataset)
        tested += sorted(label for label in _labels(dataset, split.test) if label.startswith("singles"))
    assert sorted(tested) == sorted({r.label for r in dataset.records if r.label.startswith("singles")})


def test_a_moved_copy_of_the_dataset_finds_its_split_by_content(tmp_path):
    import shutil

    from siamkit.data.splits import load_split_for

    make_identity_images(tmp_path / "faces", identities=8, per_identity=2)
    dataset = scan_dataset(tmp_path / "faces")
    split = split_by_identity(dataset, (0.5, 0.25, 0.25))
    split.save(tmp_path / "split.json", dataset.root)
    moved = scan_dataset(shutil.copytree(tmp_path / "faces", tmp_path / "elsewhere" / "faces_copy"))
    found = load_split_for(tmp_path / "split.json", moved)
    assert found is not None and len(found.subset(moved, "test")) == len(split.test) > 0
    # Another dataset with the same file names but other identities is not this split's dataset.
    (tmp_path / "elsewhere" / "faces_copy" / "id_00").rename(tmp_path / "elsewhere" / "faces_copy" / "id_99")
    assert load_split_for(tmp_path / "split.json", scan_dataset(tmp_path / "elsewhere" / "faces_copy")) is None


def test_a_split_json_without_a_fingerprint_still_loads(tmp_path):
    """split.json as written before datasets were identified by content: no ``dataset_sha256``."""
    import json
    import shutil

    from siamkit.data.splits import load_split_for

    make_identity_images(tmp_path / "faces", identities=8, per_identity=2)
    dataset = scan_dataset(tmp_path / "faces")
    split = split_by_identity(dataset, (0.5, 0.25, 0.25))
    old = {key: value for key, value in split.to_json(dataset.root).items() if key != "dataset_sha256"}
    (tmp_path / "split.json").write_text(json.dumps(old))
    assert sorted(load_split_for(tmp_path / "split.json", dataset).test) == sorted(split.test)  # same place
    moved = scan_dataset(shutil.copytree(tmp_path / "faces", tmp_path / "moved"))
    assert len(load_split_for(tmp_path / "split.json", moved).subset(moved, "test")) == len(split.test)
    (tmp_path / "moved" / "id_00" / "img_0.png").unlink()  # no longer the same listing
    assert load_split_for(tmp_path / "split.json", scan_dataset(tmp_path / "moved")) is None
