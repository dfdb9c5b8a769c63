import hashlib
import math

import numpy as np
import pytest

from siamkit.errors import SiamkitError
from siamkit.search import GalleryIndex, content_hash


def test_every_item_finds_itself_first(build, small_gallery):
    embeddings, paths, labels, _ = small_gallery
    index = build("exact")
    results = index.search(embeddings, k=5)
    assert [hits[0]["path"] for hits in results] == paths
    assert [hits[0]["label"] for hits in results] == labels
    assert all(hits[0]["distance"] == pytest.approx(0.0, abs=1e-3) for hits in results)
    assert all(hits[0]["similarity"] == pytest.approx(1.0, abs=1e-6) for hits in results)


def test_hits_are_sorted_and_scores_follow_the_cosine(build, small_gallery):
    embeddings = small_gallery[0]
    index = build("exact")
    query = embeddings[7] + 0.3 * embeddings[100]
    hits = index.search(query, k=10)[0]
    unit = query / np.linalg.norm(query)
    for hit in hits:
        cosine = float(embeddings[hit["id"]] @ unit)
        assert hit["distance"] == pytest.approx(math.sqrt(max(0.0, 2 - 2 * cosine)), abs=1e-4)
        assert hit["similarity"] == pytest.approx((1 + cosine) / 2, abs=1e-5)
        assert set(hit) == {"id", "path", "label", "distance", "similarity"}
    similarities = [hit["similarity"] for hit in hits]
    assert similarities == sorted(similarities, reverse=True)


@pytest.mark.parametrize("kind", ["exact", "hnsw", "ivf"])
def test_k_larger_than_gallery_returns_everything(build, small_gallery, kind):
    index = build(kind, **({"nprobe": 1} if kind == "ivf" else {}))
    hits = index.search(small_gallery[0][:2], k=10_000)
    assert [len(row) for row in hits] == [300, 300]
    assert len({hit["id"] for hit in hits[0]}) == 300


def test_add_then_remove_without_rebuild(build, make_embeddings, make_columns):
    index = build("exact")
    backend = index._backend
    extra, extra_labels = make_embeddings(20, seed=5)
    extra_paths, extra_hashes = make_columns(20, prefix="new")
    new_ids = index.add(extra, extra_paths, extra_labels, extra_hashes)
    assert index._backend is backend, "add must update the index in place"
    assert new_ids == list(range(300, 320)) and len(index) == 320
    assert index.search(extra[3], k=1)[0][0]["path"] == "new/00003.jpg"

    assert index.remove(["new/00003.jpg", "img/00000.jpg", "not/indexed.jpg"]) == 2
    assert len(index) == 318 and "new/00003.jpg" not in index.paths
    assert index.get(303) is None and index.get(304)["path"] == "new/00004.jpg"
    assert all(hit["id"] != 303 for hit in index.search(extra[3], k=50)[0])
    # Removal shifted storage positions; ids found by search must still name the right images.
    assert [index.search(extra[i], k=1)[0][0]["path"] for i in (0, 4, 19)] == [
        "new/00000.jpg", "new/00004.jpg", "new/00019.jpg"
    ]


def test_ids_are_never_reused(build, small_gallery):
    embeddings, paths, labels, hashes = small_gallery
    index = build("exact")
    index.remove(paths[-1])
    (new_id,) = index.add(embeddings[-1:], paths[-1:], labels[-1:], hashes[-1:])
    assert new_id == 300
    assert index.get(299) is None and index.get(300)["content_hash"] == hashes[-1]


def test_adding_an_indexed_path_replaces_it(build, small_gallery, make_embeddings):
    _, paths, _, _ = small_gallery
    index = build("exact")
    changed, _ = make_embeddings(1, seed=9)
    (new_id,) = index.add(changed, [paths[0]], ["relabelled"], ["f" * 64])
    assert len(index) == 300 and index.get(0) is None
    assert index.get(new_id) == {"id": new_id, "path": paths[0], "label": "relabelled", "content_hash": "f" * 64}
    assert index.search(changed, k=1)[0][0]["id"] == new_id


def test_stale_finds_new_changed_and_vanished(build, small_gallery):
    _, paths, _, hashes = small_gallery
    index = build("exact")
    on_disk = dict(zip(paths, hashes))
    assert index.stale(on_disk) == ([], [])
    del on_disk[paths[3]]
    on_disk[paths[5]] = "a" * 64
    on_disk["img/brand-new.jpg"] = "b" * 64
    to_embed, to_remove = index.stale(on_disk)
    assert sorted(to_embed) == sorted([paths[5], "img/brand-new.jpg"])
    assert to_remove == [paths[3]]


def test_wrong_model_is_refused(build, model_id, small_gallery, tmp_path):
    index = build("exact")
    index.check_model(model_id)
    index.save(tmp_path / "gallery.sidx")
    with pytest.raises(SiamkitError, match=r"gallery\.sidx was built with model .*, not other-model; re-index"):
        index.search(small_gallery[0][:1], model_id="other-model")


def test_empty_gallery_is_refused(build, small_gallery, model_id):
    with pytest.raises(SiamkitError, match="no embeddings"):
        GalleryIndex.build(np.zeros((0, 32), np.float32), [], [], [], model_id)
    index = build("exact")
    index.remove(index.paths)
    with pytest.raises(SiamkitError, match="empty"):
        index.search(small_gallery[0][:1])


def test_dimension_mismatch_is_refused(build, small_gallery):
    index = build("exact")
    with pytest.raises(SiamkitError, match="32-d .* 16-d"):
        index.search(np.ones((1, 16), np.float32))
    with pytest.raises(SiamkitError, match="32-d .* 64-d"):
        index.add(np.ones((1, 64), np.float32), ["x.jpg"], ["x"], ["0" * 64])


def test_bad_batches_leave_the_index_untouched(build, small_gallery):
    embeddings, paths, labels, hashes = small_gallery
    index = build("exact")
    with pytest.raises(SiamkitError, match="listed twice"):
        index.add(embeddings[:2], ["a.jpg", "a.jpg"], labels[:2], hashes[:2])
    with pytest.raises(SiamkitError, match="not a sha256"):
        index.add(embeddings[:1], [paths[0]], labels[:1], ["img/00000.jpg"])
    with pytest.raises(SiamkitError, match="2 embeddings but 1 paths"):
        index.add(embeddings[:2], paths[:1], labels[:2], hashes[:2])
    assert len(index) == 300 and index.get(0)["path"] == paths[0]


def test_content_hash_is_sha256_of_the_bytes(tmp_path):
    image = tmp_path / "cat.jpg"
    image.write_bytes(b"\xff\xd8 not really a jpeg")
    assert content_hash(image) == hashlib.sha256(image.read_bytes()).hexdigest()
    with pytest.raises(SiamkitError, match=r"cannot read .*gone\.jpg"):
        content_hash(tmp_path / "gone.jpg")


def test_approximate_search_works_after_pytorch_metric_learning_patched_faiss():
    """Training imports pytorch-metric-learning, which swaps in faiss.contrib.torch_utils'
    Index.search (no ``params=``); the index must still search in that process."""
    import numpy as np
    import pytorch_metric_learning.samplers  # noqa: F401  (applies the patch)

    from siamkit.search import GalleryIndex

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(400, 16)).astype(np.float32)
    paths = [f"/g/{i}.png" for i in range(400)]
    for kind in ("hnsw", "ivf"):
        index = GalleryIndex.build(vectors, paths, ["x"] * 400, ["0" * 64] * 400, "m", kind=kind)
        hits = index.search(vectors[:3], k=1)
        assert [h[0]["path"] for h in hits] == paths[:3]
        assert len(index.search(vectors[:1], k=500)[0]) == 400  # k > n: answered exactly


def test_an_image_path_is_refused_in_one_line_that_says_what_to_call(build, tmp_path):
    index = build("exact")
    index.save(tmp_path / "gallery.idx")
    loaded = GalleryIndex.load(tmp_path / "gallery.idx")
    for query in ("q.pgm", ["a.jpg", "b.jpg"], b"\x89PNG not numbers"):
        with pytest.raises(SiamkitError, match=r"takes embeddings.*model\.search\(index, images\)") as caught:
            loaded.search(query, k=3)
        assert "\n" not in str(caught.value) and "gallery.idx" in str(caught.value)
