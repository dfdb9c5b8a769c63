"""Gallery shards: their file, and merging them into the index a one-go build would make."""

from __future__ import annotations

import re

import numpy as np
import pytest

from siamkit.errors import SiamkitError
from siamkit.search import GalleryIndex, GalleryShard, merge_shards
from siamkit.search.shard_merge import load_shards
from siamkit.search.unit_vectors import numpy_method
from tests.search.conftest import MODEL_ID, clustered_embeddings, fake_hash

ROOT = "/data/gallery"
N = 90


def _gallery(n: int = N):
    embeddings, labels = clustered_embeddings(n)
    relative = [f"{label}/img_{i:03d}.jpg" for i, label in enumerate(labels)]
    return embeddings, relative, labels, [fake_hash(path) for path in relative]


def _shards(count: int, skipped=(), model_id: str = MODEL_ID, root: str = ROOT) -> list[GalleryShard]:
    """The gallery cut into ``count`` shards (image i in shard i % count); ``skipped`` did not decode."""
    embeddings, relative, labels, hashes = _gallery()
    shards = []
    for number in range(count):
        mine = [i for i in range(N) if i % count == number]
        kept = [i for i in mine if i not in skipped]
        shards.append(
            GalleryShard(
                shard=number, count=count, model_id=model_id, model_folder="/models/m", gallery=root,
                listing_sha256=fake_hash("listing"), listing_size=N, positions=np.asarray(kept, dtype=np.int64),
                relative_paths=[relative[i] for i in kept], labels=[labels[i] for i in kept],
                content_hashes=[hashes[i] for i in kept], embeddings=embeddings[kept],
                skipped={i: "cannot decode image" for i in mine if i in skipped},
            )
        )
    return shards


def _one_go(kind: str = "exact", skipped=()) -> GalleryIndex:
    embeddings, relative, labels, hashes = _gallery()
    kept = [i for i in range(N) if i not in skipped]
    paths = [f"{ROOT}/{relative[i]}" for i in kept]
    return GalleryIndex.build(embeddings[kept], paths, [labels[i] for i in kept], [hashes[i] for i in kept], MODEL_ID, kind=kind)


def _vectors(index: GalleryIndex) -> np.ndarray:
    """Stored vectors by item id (ids of a fresh build are 0..n-1)."""
    return numpy_method(index.faiss_index, "reconstruct_n")(0, len(index))


@pytest.mark.parametrize("kind", ["exact", "hnsw"])
def test_merged_shards_are_the_one_go_index(kind):
    shards = _shards(3, skipped={4, 50})
    merged = merge_shards(list(reversed(shards)), kind=kind)  # the order shards are given in does not matter
    one_go = _one_go(kind, skipped={4, 50})
    assert merged.ids == one_go.ids and merged.paths == one_go.paths and merged.labels == one_go.labels
    assert [merged.get(i) for i in merged.ids] == [one_go.get(i) for i in one_go.ids]
    if kind == "exact":
        np.testing.assert_allclose(_vectors(merged), _vectors(one_go), atol=1e-6)
    queries, _ = clustered_embeddings(10, seed=3)
    assert merged.search(queries, k=5) == one_go.search(queries, k=5)


def test_a_shard_file_round_trips(tmp_path):
    shard = _shards(2, skipped={1})[1]
    shard.save(tmp_path / "part.shard")
    loaded = GalleryShard.load(tmp_path / "part.shard")
    assert (loaded.shard, loaded.count, loaded.model_id, loaded.gallery) == (1, 2, MODEL_ID, ROOT)
    assert loaded.positions.tolist() == shard.positions.tolist() and loaded.skipped == {1: "cannot decode image"}
    assert loaded.relative_paths == shard.relative_paths and loaded.content_hashes == shard.content_hashes
    np.testing.assert_array_equal(loaded.embeddings, shard.embeddings)
    assert [p.name for p in tmp_path.iterdir()] == ["part.shard"]  # no temporary file left


def _refused(shards, *words, **merge_options):
    with pytest.raises(SiamkitError) as error:
        merge_shards(shards, **merge_options)
    message = str(error.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message
    return message


def test_shards_of_another_model_split_or_listing_are_refused():
    a, b, c = _shards(3)
    _refused([a, _shards(3, model_id="other-model@1")[1], c], "different models", MODEL_ID, "other-model@1")
    _refused([a, _shards(2)[1]], "split the gallery differently", "shard 0/3", "shard 1/2")
    b.listing_size = N + 1
    _refused([a, b, c], "different galleries", f"{N} vs {N + 1} images")


def test_missing_and_doubled_shards_are_named():
    a, b, c = _shards(3)
    _refused([a, c], "missing shard(s) 1/3 of 3")
    _refused([a], "missing shard(s) 1/3, 2/3 of 3")
    _refused([a, b, c, b], "shard 1/3 given twice")
    forged = _shards(3)[1]
    forged.positions = forged.positions.copy()
    forged.positions[0] = 0  # also in shard 0
    _refused([a, forged, c], "image 0 of the gallery listing is in shard 0/3 and shard 1/3", "overlap")


def test_shards_from_different_folders_need_gallery():
    a, b = _shards(2)
    b.gallery = "/mnt/other/gallery"
    _refused([a, b], "different folders", "--gallery")
    merged = merge_shards([a, b], gallery="/srv/gallery")
    assert merged.paths[0].startswith("/srv/gallery/")


def test_a_gallery_nothing_decoded_in_is_refused():
    _refused(_shards(2, skipped=set(range(N))), f"none of the gallery's {N} image(s) could be decoded")


def test_damaged_and_foreign_shard_files_are_refused(tmp_path):
    shard = _shards(1)[0]
    shard.save(tmp_path / "good.shard")
    data = (tmp_path / "good.shard").read_bytes()
    (tmp_path / "truncated.shard").write_bytes(data[:-100])
    tampered = bytearray(data)
    tampered[-5] ^= 0xFF  # one embedding byte
    (tmp_path / "tampered.shard").write_bytes(bytes(tampered))
    _one_go().save(tmp_path / "index.idx")
    cases = {
        "truncated.shard": "is truncated",
        "tampered.shard": "corrupted (checksum mismatch)",
        "index.idx": "is not a siamkit gallery shard",
        "missing.shard": "does not exist",
    }
    for name, words in cases.items():
        with pytest.raises(SiamkitError, match=re.escape(words)) as error:
            load_shards([tmp_path / "good.shard", tmp_path / name])
        assert name in str(error.value)
    with pytest.raises(SiamkitError, match="no shard files given"):
        load_shards([])
