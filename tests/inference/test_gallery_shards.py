"""Embedding a gallery in shards and chunks: the partition, resuming, and merging back to one index."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from siamkit import GalleryIndex, ShardSpec, embed_gallery_shard, list_gallery, merge_shards
from siamkit.errors import SiamkitError
from siamkit.inference.embedding_chunks import progress_folder
from siamkit.inference.gallery_shards import shard_of
from siamkit.search.unit_vectors import numpy_method
from tests.conftest import make_identity_images


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    folder = make_identity_images(tmp_path_factory.mktemp("shards") / "gallery", identities=4, per_identity=4, seed=5)
    (folder / "id_01" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")  # skipped, not fatal
    return folder


def _vectors(index: GalleryIndex) -> np.ndarray:
    return numpy_method(index.faiss_index, "reconstruct_n")(0, len(index))


def test_shard_spec_and_a_partition_that_does_not_depend_on_the_machine():
    assert str(ShardSpec.parse(" 2/4")) == "2/4" and ShardSpec.parse("0/1") == ShardSpec(0, 1)
    for bad in ("4/4", "1", "-1/4", "a/b", "0/0"):
        with pytest.raises(SiamkitError, match="--shard"):
            ShardSpec.parse(bad)
    # A file's shard is a function of its relative path alone, fixed across machines and versions.
    assert shard_of("id_00/img_0.png", 1_000_003) == 588700
    counts = np.bincount([shard_of(f"class_{i % 37}/img_{i}.jpg", 4) for i in range(4000)], minlength=4)
    assert counts.min() > 900  # about equal shards


def test_merged_shards_are_the_one_go_index(onnx_model, gallery, tmp_path, caplog):
    listing = list_gallery(gallery)
    with caplog.at_level(logging.WARNING, logger="siamkit"):
        one_go = onnx_model.index(gallery)
    shards = [
        embed_gallery_shard(onnx_model, listing, ShardSpec(number, 3), tmp_path / f"{number}.chunks", chunk_size=2)
        for number in range(3)
    ]
    assert all(len(shard.positions) for shard in shards)
    assert sum(len(shard.skipped) for shard in shards) == 1
    merged = merge_shards(shards)
    assert merged.ids == one_go.ids and merged.paths == one_go.paths and merged.labels == one_go.labels
    assert [merged.get(i)["content_hash"] for i in merged.ids] == [one_go.get(i)["content_hash"] for i in one_go.ids]
    np.testing.assert_allclose(_vectors(merged), _vectors(one_go), atol=1e-5)
    queries = one_go.paths[::3]
    found, expected = onnx_model.search(merged, queries, k=4), onnx_model.search(one_go, queries, k=4)
    assert [[hit["id"] for hit in hits] for hits in found] == [[hit["id"] for hit in hits] for hits in expected]


def test_a_run_that_dies_resumes_from_its_chunks(onnx_model, gallery, tmp_path, monkeypatch, caplog):
    listing = list_gallery(gallery)
    folder = progress_folder(tmp_path / "all.shard")
    reference = embed_gallery_shard(onnx_model, listing, ShardSpec(0, 1), tmp_path / "reference.chunks", chunk_size=3)

    embedded = []
    original = onnx_model.embed_readable

    def dies_on_the_third_chunk(paths, **options):
        if len(embedded) == 2:
            raise KeyboardInterrupt  # as a kill between chunks would
        embedded.append(len(paths))
        return original(paths, **options)

    monkeypatch.setattr(onnx_model, "embed_readable", dies_on_the_third_chunk)
    with pytest.raises(KeyboardInterrupt):
        embed_gallery_shard(onnx_model, listing, ShardSpec(0, 1), folder, chunk_size=3)
    assert sorted(path.name for path in folder.iterdir()) == ["chunk-000000.npz", "chunk-000001.npz", "plan.json"]

    embedded.clear()
    monkeypatch.setattr(onnx_model, "embed_readable", lambda paths, **options: embedded.append(len(paths)) or original(paths, **options))
    counts = {}
    with caplog.at_level(logging.INFO, logger="siamkit"):
        resumed = embed_gallery_shard(onnx_model, listing, ShardSpec(0, 1), folder, chunk_size=3, counts=counts)
    assert sum(embedded) == len(listing) - 6  # the two saved chunks were not embedded again
    assert "gallery: 2 of 6 chunks were embedded by an earlier run" in caplog.text  # no "shard 0/1" when unsharded
    readable_before = sum(1 for p in reference.positions.tolist() if p < 6)
    assert counts == {"resumed": readable_before, "embedded": len(reference.positions) - readable_before}
    assert resumed.positions.tolist() == reference.positions.tolist() and resumed.skipped == reference.skipped
    np.testing.assert_allclose(resumed.embeddings, reference.embeddings, atol=1e-6)

    # Progress of another plan (here another chunk size) is never mixed in: it starts over.
    embedded.clear()
    with caplog.at_level(logging.WARNING, logger="siamkit"):
        again = embed_gallery_shard(onnx_model, listing, ShardSpec(0, 1), folder, chunk_size=4)
    assert "starting over" in caplog.text and sum(embedded) == len(listing)
    assert again.positions.tolist() == reference.positions.tolist()
