"""Indexing a gallery folder with a model, searching it with images, keeping it current."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from siamkit import BoundGalleryIndex, GalleryIndex, SiameseModel
from siamkit.errors import SiamkitError


def test_every_gallery_image_finds_itself_first(onnx_model, trained):
    index = onnx_model.index(trained["gallery"])
    paths = sorted(str(path) for path in Path(trained["gallery"]).rglob("*.png"))
    assert isinstance(index, GalleryIndex) and index.kind == "exact" and len(index) == len(paths)
    assert index.model_id == onnx_model.model_id and sorted(index.paths) == paths
    results = index.search(paths, k=3)
    for path, hits in zip(paths, results):
        assert hits[0]["path"] == path and hits[0]["label"] == Path(path).parent.name
        assert hits[0]["distance"] < 1e-3 and hits[0]["similarity"] > 0.999
        assert set(hits[0]) == {"id", "path", "label", "distance", "similarity"}
    single = index.search(Image.open(paths[4]), k=2)  # one image in, one list of hits out
    assert [hit["path"] for hit in single][:1] == [paths[4]]
    embeddings = onnx_model.embed(paths[:2])
    assert [hits[0]["path"] for hits in index.search(embeddings, k=1)] == paths[:2]  # still takes embeddings


def test_save_and_load_round_trip(onnx_model, trained, tmp_path):
    index = onnx_model.index(trained["gallery"], kind="exact")
    query = next(Path(trained["gallery"]).rglob("*.png"))
    before = index.search(str(query), k=5)
    index.save(tmp_path / "gallery.idx")
    loaded = GalleryIndex.load(tmp_path / "gallery.idx")
    assert loaded.kind == "exact" and loaded.paths == index.paths and loaded.labels == index.labels
    assert onnx_model.search(loaded, str(query), k=5) == before
    assert BoundGalleryIndex.load(tmp_path / "gallery.idx", onnx_model).search(query, k=5) == before


def test_reindexing_embeds_only_new_and_changed_files(onnx_model, trained, tmp_path, monkeypatch):
    gallery = tmp_path / "gallery"
    shutil.copytree(trained["gallery"], gallery)
    index = onnx_model.index(gallery)
    files = sorted(gallery.rglob("*.png"))
    changed, deleted = files[0], files[5]
    Image.open(files[1]).save(changed)  # new bytes under an indexed path
    deleted.unlink()
    added = gallery / "id_new" / "img_0.png"
    added.parent.mkdir()
    Image.open(files[7]).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(added)

    embedded_paths = []
    real = onnx_model.embed_readable

    def counting(images, **kwargs):
        embedded_paths.extend(images)
        return real(images, **kwargs)

    monkeypatch.setattr(onnx_model, "embed_readable", counting)
    updated = onnx_model.index(gallery, existing=index)
    assert sorted(embedded_paths) == sorted([str(changed), str(added)])
    assert updated.update_counts == {"embedded": 2, "removed": 1, "unchanged": len(files) - 2}
    assert len(updated) == len(files) and str(deleted) not in updated.paths
    assert updated.search(str(added), k=1)[0]["label"] == "id_new"
    assert updated.search(str(changed), k=1)[0]["distance"] < 1e-3

    embedded_paths.clear()
    onnx_model.index(gallery, existing=updated)
    assert embedded_paths == []


def test_an_index_from_another_model_is_refused(onnx_model, trained, other_model):
    index = onnx_model.index(trained["gallery"])
    other = SiameseModel.load(other_model, backend="torch")
    query = str(next(Path(trained["gallery"]).rglob("*.png")))
    with pytest.raises(SiamkitError, match="re-index"):
        other.search(index, query)
    with pytest.raises(SiamkitError, match="re-index"):
        other.index(trained["gallery"], existing=index)
    with pytest.raises(SiamkitError, match="not bound|re-index"):
        BoundGalleryIndex.bind(index, other)


def test_empty_broken_and_partly_broken_galleries(onnx_model, tmp_path, trained, caplog):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(SiamkitError, match="no image files"):
        onnx_model.index(tmp_path / "empty")
    with pytest.raises(SiamkitError, match="not found"):
        onnx_model.index(tmp_path / "missing")
    broken = tmp_path / "broken" / "a"
    broken.mkdir(parents=True)
    (broken / "x.png").write_bytes(b"not a png")
    with pytest.raises(SiamkitError, match="could be decoded"):
        onnx_model.index(tmp_path / "broken")
    shutil.copy(next(Path(trained["gallery"]).rglob("*.png")), broken / "good.png")
    if hasattr(os, "mkfifo"):
        os.mkfifo(broken / "pipe.jpg")  # hashing it would block forever: it must be left out
    with caplog.at_level(logging.WARNING, logger="siamkit"):
        index = onnx_model.index(tmp_path / "broken")
    assert index.paths == [str(broken / "good.png")] and "x.png" in caplog.text
    flat = tmp_path / "flat"
    flat.mkdir()
    shutil.copy(broken / "good.png", flat / "one.png")
    assert onnx_model.index(flat).labels == [""]  # images directly in the gallery folder: no label
    assert onnx_model.index([flat / "one.png"]).labels == ["flat"]  # a list of files: folder name

