"""The dataset reader registry: built-in order, and a reader registered from user code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from siamkit.data.dataset import scan_dataset
from siamkit.data.readers import READERS, DatasetReader, find_reader, reader_order
from siamkit.data.records import ImageRecord
from siamkit.errors import SiamkitError
from tests.conftest import make_identity_images, tiny_train_settings
from tests.data.test_idx import make_idx_dataset


class JsonLinesReader(DatasetReader):
    """A toy format: one ``{"image": ..., "person": ...}`` object per line."""

    def detect(self, path: Path) -> bool:
        return path.is_file() and path.suffix == ".jsonl"

    def records(self, path: Path) -> list[ImageRecord]:
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return [ImageRecord(str(path.parent / row["image"]), row["person"]) for row in rows]


@pytest.fixture
def jsonl_reader():
    READERS.register("jsonl", description="one JSON object per line")(JsonLinesReader)
    yield
    READERS.unregister("jsonl")


def _jsonl_dataset(folder: Path, identities: int = 8, per_identity: int = 4) -> Path:
    make_identity_images(folder / "pictures", identities=identities, per_identity=per_identity)
    lines = [
        json.dumps({"image": image.relative_to(folder).as_posix(), "person": f"person {image.parent.name}"})
        for image in sorted((folder / "pictures").rglob("*.png"))
    ]
    (folder / "people.jsonl").write_text("\n".join(lines) + "\n")
    return folder / "people.jsonl"


def test_builtin_readers_are_asked_most_specific_first(tmp_path):
    assert reader_order()[-3:] == ["idx", "csv", "folder"]
    assert find_reader(make_identity_images(tmp_path / "faces", identities=2, per_identity=1))[0] == "folder"
    assert find_reader(make_idx_dataset(tmp_path / "fm"))[0] == "idx"
    (tmp_path / "list.csv").write_text("path,label\nfaces/id_00/img_0.png,a\n")
    assert find_reader(tmp_path / "list.csv")[0] == "csv"
    assert find_reader(tmp_path / "faces" / "id_00" / "img_0.png") is None


def test_unknown_reader_and_unrecognised_file_are_one_line_errors(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(SiamkitError, match="no dataset reader recognises") as caught:
        scan_dataset(tmp_path / "notes.txt")
    assert "\n" not in str(caught.value)
    make_identity_images(tmp_path / "faces", identities=2, per_identity=1)
    with pytest.raises(SiamkitError, match="did you mean 'folder'"):
        scan_dataset(tmp_path / "faces", reader="foldr")


def test_a_user_reader_is_asked_before_the_builtins_and_scans(jsonl_reader, tmp_path):
    listing = _jsonl_dataset(tmp_path / "people", identities=3, per_identity=2)
    assert reader_order()[0] == "jsonl"
    dataset = scan_dataset(listing)
    assert len(dataset) == 6 and dataset.root == str(listing.parent)
    assert sorted(dataset.identities()) == ["person id_00", "person id_01", "person id_02"]
    # Named explicitly, a reader skips detection (here: the folder reader on the same images).
    assert len(scan_dataset(listing.parent / "pictures", reader="folder")) == 6


def test_a_user_reader_trains_the_tiny_model(jsonl_reader, tmp_path):
    from siamkit.training.config import load_config
    from siamkit.pipelines.training_run import train

    listing = _jsonl_dataset(tmp_path / "people")
    result = train(listing, tmp_path / "run", load_config(None, tiny_train_settings()))
    assert (result.model_folder / "model.safetensors").is_file()
    split = json.loads((tmp_path / "run" / "split.json").read_text())
    assert split["root"] == str(listing.parent) and all(path.startswith("pictures/") for path in split["train"])
    assert split["identity_counts"]["train"] > 0
