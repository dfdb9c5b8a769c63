"""``siamkit embed`` and ``siamkit index`` take every dataset form training takes: CSV and IDX too."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from siamkit import GalleryIndex, ShardSpec, embed_gallery_shard, list_gallery, merge_shards
from tests.data.test_idx import make_idx_dataset
from tests.inference.test_model_commands import _ok, _siamkit


@pytest.fixture(scope="module")
def csv_gallery(trained, tmp_path_factory) -> Path:
    """A CSV listing in its own folder that points at images beside it (``../images/...``)."""
    folder = tmp_path_factory.mktemp("csv_gallery")
    shutil.copytree(trained["gallery"], folder / "images")
    (folder / "lists").mkdir()
    rows = [
        f"../images/{image.relative_to(folder / 'images').as_posix()},person_{image.parent.name},g"
        for image in sorted((folder / "images").rglob("*.png"))
    ]
    (folder / "lists" / "gallery.csv").write_text("path,label,group\n" + "\n".join(rows) + "\n")
    return folder / "lists" / "gallery.csv"


@pytest.fixture(scope="module")
def idx_gallery(tmp_path_factory) -> Path:
    return make_idx_dataset(tmp_path_factory.mktemp("idx_gallery") / "fm", train=8, test=4)


def test_embed_a_csv_listing_and_an_idx_folder(trained, csv_gallery, idx_gallery, tmp_path):
    _ok(_siamkit("embed", trained["model"], csv_gallery, "--out", tmp_path / "csv.npy"))
    listing = json.loads((tmp_path / "csv.json").read_text())
    assert np.load(tmp_path / "csv.npy").shape == (12, 16)
    assert len(set(listing["labels"])) == 4 and all(label.startswith("person_id_") for label in listing["labels"])
    assert all(Path(path).is_file() for path in listing["paths"])

    _ok(_siamkit("embed", trained["model"], idx_gallery, "--out", tmp_path / "idx.npy"))
    listing = json.loads((tmp_path / "idx.json").read_text())
    assert np.load(tmp_path / "idx.npy").shape == (12, 16)
    assert set(listing["labels"]) == {"0", "1", "2", "3"}  # labels from the IDX labels file
    assert listing["paths"][0] == f"{idx_gallery / 't10k-images-idx3-ubyte'}#0"


def test_index_a_csv_listing_and_an_idx_folder_and_search_them(trained, csv_gallery, idx_gallery, tmp_path):
    for name, gallery in (("csv", csv_gallery), ("idx", idx_gallery)):
        out = tmp_path / f"{name}.idx"
        assert "indexed 12 images (exact" in _ok(_siamkit("index", trained["model"], gallery, "--out", out))
        index = GalleryIndex.load(out)
        assert len(index) == 12 and len(set(index.labels)) == 4
        assert all("#" in path for path in index.paths) == (name == "idx")
        hits = json.loads(_ok(_siamkit("search", out, index.paths[0], "-k", "1", "--json")))
        assert hits[0]["hits"][0]["path"] == index.paths[0]  # an image finds itself, IDX paths included
        # Nothing changed: an update embeds nothing (IDX images are hashed by their pixels).
        assert "embedded 0, removed 0, unchanged 12" in _ok(_siamkit("index", trained["model"], gallery, "--out", out, "--update"))


def test_csv_shards_merge_into_the_one_go_index(onnx_model, csv_gallery, tmp_path):
    listing = list_gallery(csv_gallery)
    assert not any(path.startswith("..") for path in listing.relative_paths)  # rooted where the images are
    shards = [embed_gallery_shard(onnx_model, listing, ShardSpec(n, 2), tmp_path / f"{n}.chunks") for n in range(2)]
    merged, one_go = merge_shards(shards), onnx_model.index(csv_gallery)
    assert merged.paths == one_go.paths and merged.labels == one_go.labels
    assert all(Path(path).is_file() for path in merged.paths)
