"""The gallery store on SQLite and PostgreSQL: enroll, remove, page, follow changes, refuse."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from siamkit.errors import SiamkitError
from siamkit.gallery import NewItem, open_store
from siamkit.gallery.live import LiveGallery


def _items(count: int, label: str = "a", seed: int = 0, dim: int = 8) -> list[NewItem]:
    rng = np.random.default_rng(seed)
    return [NewItem(label, rng.normal(size=dim), f"img{i}".encode(), f"{label}_{i}.png") for i in range(count)]


def test_enroll_list_remove_and_follow_the_changes(store_url):
    with open_store(store_url, create=True, model_id="m", embedding_dim=8) as store:
        live = LiveGallery(store, "m", 8)
        first = store.add(_items(3, "whale-7"))
        second = store.add(_items(2, "whale-9", seed=1))
        assert live.catch_up() == 5 and len(live) == 5
        assert [item["id"] for item in store.list()] == first + second
        assert [item["label"] for item in store.list(label="whale-9")] == ["whale-9", "whale-9"]
        assert store.count() == 5 and store.count("whale-7") == 3 and store.labels() == [("whale-7", 3), ("whale-9", 2)]
        assert [item["id"] for item in store.list(offset=1, limit=2)] == first[1:3]
        assert store.image(first[0]) == b"img0"
        query = _items(1, "whale-9", seed=1)[0].embedding
        assert live.search(query, 1)[0][0]["id"] == second[0]  # the same vector comes first
        assert store.remove([second[0], 10_000]) == [second[0]]
        assert store.remove([second[0]]) == []  # removed once only
        live.catch_up()
        assert len(live) == 4 and second[0] not in [hit["id"] for hit in live.search(query, 10)[0]]
        assert store.get(second[0]) is None and store.image(second[0]) is None
        # a second server (a fresh follower) rebuilds the same state from the changes
        other = LiveGallery(open_store(store_url), "m", 8)
        assert len(other) == 4 and other.seq == live.seq


def test_another_models_embeddings_are_refused(store_url):
    open_store(store_url, create=True, model_id="m", embedding_dim=8).close()
    with pytest.raises(SiamkitError, match="holds embeddings of model m, not other; use that model, or a new store"):
        open_store(store_url, model_id="other", embedding_dim=8)


def test_a_bad_item_leaves_the_store_unchanged(store_url):
    with open_store(store_url, create=True, model_id="m", embedding_dim=8) as store:
        store.add(_items(1))
        for bad, reason in (
            ([*_items(2), NewItem("", np.ones(8))], "label: give the identity's name"),
            ([*_items(2), NewItem("b", np.ones(5))], "embedding of 5 numbers, the store holds 8"),
            ([*_items(2), NewItem("b", np.full(8, np.nan))], "not finite"),
            ([*_items(2), NewItem("b\n", np.ones(8), metadata={"x": "y" * 20_000})], "metadata: at most 16 KB"),
        ):
            with pytest.raises(SiamkitError, match=reason):
                store.add(bad)
        assert store.count() == 1 and [change.item_id for change in store.changes_since(0)] == [1]


def test_concurrent_writers_get_every_item_once_in_sequence_order(store_url):
    with open_store(store_url, create=True, model_id="m", embedding_dim=8) as store:
        live = LiveGallery(store, "m", 8)
        acknowledged, errors = [], []

        def enroll(worker: int) -> None:
            try:
                for step in range(5):
                    acknowledged.extend(store.add(_items(2, f"w{worker}", seed=worker * 10 + step)))
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=enroll, args=(worker,)) for worker in range(8)]
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            live.catch_up()  # following while the writers write
        for thread in threads:
            thread.join()
        live.catch_up()
        assert not errors
        assert len(acknowledged) == len(set(acknowledged)) == 80
        assert sorted(item["id"] for item in store.list(limit=500)) == sorted(acknowledged)
        assert len(live) == 80
        seqs = [change.seq for change in store.changes_since(0)]
        assert seqs == sorted(seqs) and len(set(seqs)) == 80


def test_a_missing_sqlite_store_is_one_line(tmp_path):
    with pytest.raises(SiamkitError, match="no gallery store there"):
        open_store(tmp_path / "none.db")
    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
    with pytest.raises(SiamkitError, match="not a siamkit gallery store"):
        open_store(tmp_path / "junk.db")


def test_metadata_that_clients_cannot_read_back_is_refused(tmp_path):
    from siamkit.gallery.records import check_metadata

    for text in ('{"x": NaN}', '{"x": Infinity}', "[" * 5000 + "]" * 5000):
        with pytest.raises(SiamkitError, match="metadata"):
            check_metadata(text)
    with pytest.raises(SiamkitError, match="plain JSON only"):
        check_metadata({"x": float("nan")})


def test_a_failed_commit_is_rolled_back_and_never_lands_later(tmp_path, monkeypatch):
    with open_store(tmp_path / "g.db", create=True, model_id="m", embedding_dim=8) as store:
        store.add(_items(1))
        connection = store.connection()
        real_commit = type(connection).commit
        monkeypatch.setattr(type(connection), "commit", lambda self: (_ for _ in ()).throw(OSError("disk I/O error")))
        with pytest.raises(OSError):
            store.add(_items(2, seed=3))
        monkeypatch.setattr(type(connection), "commit", real_commit)
        assert store.count() == 1  # the next statement on this thread does not commit it after all
        store.add(_items(1, seed=4))
        assert store.count() == 2
