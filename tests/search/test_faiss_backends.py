import numpy as np
import pytest

from siamkit.errors import SiamkitError
from siamkit.search import GalleryIndex


def recall_at_10(approximate: GalleryIndex, exact: GalleryIndex, queries: np.ndarray) -> float:
    found = approximate.search(queries, k=10)
    truth = exact.search(queries, k=10)
    overlaps = [len({h["id"] for h in a} & {h["id"] for h in t}) for a, t in zip(found, truth)]
    return sum(overlaps) / (10 * len(queries))


@pytest.fixture
def clustered(make_embeddings, make_columns, model_id):
    drawn, drawn_labels = make_embeddings(2200, dim=32, clusters=30, seed=1)
    embeddings, labels, queries = drawn[:2000], drawn_labels[:2000], drawn[2000:]  # queries: new points
    paths, hashes = make_columns(2000)

    def build(kind, **params):
        return GalleryIndex.build(embeddings, paths, labels, hashes, model_id, kind=kind, **params)

    return build, queries, embeddings


@pytest.mark.parametrize("kind,params", [("hnsw", {}), ("ivf", {})])
def test_approximate_kinds_agree_with_exact(clustered, kind, params):
    build, queries, _ = clustered
    index = build(kind, **params)
    assert index.kind == kind
    assert recall_at_10(index, build("exact"), queries) > 0.9


def test_hnsw_removal_filters_tombstones_and_compacts(clustered):
    build, _, embeddings = clustered
    index = build("hnsw")
    exact = build("exact")
    gone = index.paths[:300]
    index.remove(gone)
    exact.remove(gone)
    assert len(index._backend.tombstones) == 300 and index._backend.ntotal == 2000
    hits = index.search(embeddings[:300], k=10)
    assert all(hit["path"] not in set(gone) for row in hits for hit in row)
    assert recall_at_10(index, exact, embeddings[:300]) > 0.9

    index.remove(index.paths[:250])  # 550 of 2000 removed: past a quarter, so the graph is rebuilt
    assert index._backend.tombstones == set() and index._backend.ntotal == len(index) == 1450
    assert index.search(embeddings[1999], k=1)[0][0]["id"] == 1999


def test_ivf_falls_back_to_exact_on_tiny_galleries(make_embeddings, make_columns, model_id):
    embeddings, labels = make_embeddings(100)
    paths, hashes = make_columns(100)
    with pytest.warns(UserWarning, match="too few to train"):
        index = GalleryIndex.build(embeddings, paths, labels, hashes, model_id, kind="ivf")
    assert index.kind == "exact"
    assert index.search(embeddings[4], k=1)[0][0]["id"] == 4


def test_search_params_can_be_tuned(clustered):
    build, queries, _ = clustered
    index = build("ivf", nprobe=2)
    index.set_search_params(nprobe=8)
    assert index.search_params["nprobe"] == 8
    with pytest.raises(SiamkitError, match="nprobe must be between"):
        index.set_search_params(nprobe=10_000)
    hnsw = build("hnsw", m=8, ef_search=16)
    hnsw.set_search_params(ef_search=128)
    assert hnsw.search_params == {"m": 8, "ef_construction": 80, "ef_search": 128}
    with pytest.warns(UserWarning, match="below 2 \\* m"):
        build("hnsw", m=16, ef_construction=20)


def test_unknown_kind_and_option_are_refused(clustered):
    build, _, _ = clustered
    with pytest.raises(SiamkitError, match="unknown index kind 'annoy'"):
        build("annoy")
    with pytest.raises(SiamkitError, match="has no option 'nprobe'"):
        build("hnsw", nprobe=4)
