"""The living gallery over HTTP: enroll, search at once, remove, browse, keys and refusals.

Real uvicorn servers on loopback over the session's tiny trained model; SQLite stores, and
PostgreSQL where the test server runs (two servers sharing one gallery).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import httpx
import pytest

from siamkit.gallery import open_store
from siamkit.gallery.keys import KeyFile, add_key
from siamkit.service import ServiceSettings, create_app
from tests.gallery.conftest import POSTGRES, fresh_postgres_url
from tests.service.conftest import TEST_UPLOAD_MB, LiveServer


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict:
    file = tmp_path_factory.mktemp("keys") / "keys.txt"
    return {"file": file, "write": add_key(file, "enroller", "write"), "read": add_key(file, "viewer", "read")}


def _server(gallery, store_url: str, keys: dict | None, **settings) -> LiveServer:
    store = open_store(store_url, create=True, model_id=gallery.model.model_id, embedding_dim=gallery.model.embedding_dim)
    key_file = KeyFile.load(keys["file"]) if keys else None
    app = create_app(gallery.model, None, ServiceSettings(max_upload_mb=TEST_UPLOAD_MB, **settings), store, key_file)
    return LiveServer(app)


@pytest.fixture
def server(gallery, keys, tmp_path):
    with _server(gallery, str(tmp_path / "gallery.db"), keys) as live:
        yield live


def _files(paths) -> list:
    return [("images", (Path(path).name, Path(path).read_bytes(), "image/png")) for path in paths]


def _enroll(url: str, key: str | None, paths, label: str, **extra) -> httpx.Response:
    headers = {"X-API-Key": key} if key else {}
    return httpx.post(f"{url}/v1/gallery", files=_files(paths), data={"label": label, **extra}, headers=headers, timeout=60)


def _search_ids(url: str, path, k: int = 50, headers=None) -> list[int]:
    response = httpx.post(f"{url}/v1/search", files={"image": Path(path).read_bytes()}, data={"k": k}, headers=headers or {}, timeout=60)
    assert response.status_code == 200, response.text
    return [hit["id"] for hit in response.json()["hits"]]


def test_an_enrolled_image_is_found_at_once_and_gone_once_removed(server, gallery, keys):
    paths = gallery.paths[:3]
    response = _enroll(server.url, keys["write"], paths, "whale-7", metadata='{"camera": "north"}')
    assert response.status_code == 201, response.text
    ids = response.json()["ids"]
    assert len(ids) == 3 and response.json()["gallery_size"] == 3
    hits = httpx.post(f"{server.url}/v1/search", files={"image": Path(paths[0]).read_bytes()}, data={"k": 1}).json()["hits"]
    assert hits[0]["id"] == ids[0] and hits[0]["label"] == "whale-7" and hits[0]["path"] == Path(paths[0]).name
    image = httpx.get(f"{server.url}{hits[0]['image_url']}")
    assert image.status_code == 200 and image.content == Path(paths[0]).read_bytes() and image.headers["content-type"] == "image/png"
    page = httpx.get(f"{server.url}/v1/gallery", params={"label": "whale-7", "limit": 2}).json()
    assert page["total"] == 3 and [item["id"] for item in page["items"]] == ids[:2]
    assert page["items"][0]["metadata"] == {"camera": "north"}
    removed = httpx.delete(f"{server.url}/v1/gallery/{ids[0]}", headers={"Authorization": f"Bearer {keys['write']}"})
    assert removed.status_code == 200 and removed.json() == {"removed": ids[0], "gallery_size": 2}
    assert ids[0] not in _search_ids(server.url, paths[0])
    assert httpx.get(f"{server.url}/v1/gallery/{ids[0]}").status_code == 404
    assert httpx.delete(f"{server.url}/v1/gallery/{ids[0]}", headers={"X-API-Key": keys["write"]}).status_code == 404
    labels = httpx.get(f"{server.url}/v1/gallery/labels").json()
    assert labels == {"labels": [{"label": "whale-7", "count": 2}], "gallery_size": 2}
    assert httpx.get(f"{server.url}/v1/model").json()["gallery_size"] == 2


def test_writes_need_a_write_key(server, gallery, keys):
    path = gallery.paths[:1]
    missing = _enroll(server.url, None, path, "a")
    assert missing.status_code == 401 and "X-API-Key" in missing.json()["detail"]
    assert _enroll(server.url, "sk_not_a_key", path, "a").status_code == 401
    read_only = _enroll(server.url, keys["read"], path, "a")
    assert read_only.status_code == 403 and "'viewer' has read scope" in read_only.json()["detail"]
    assert httpx.delete(f"{server.url}/v1/gallery/1").status_code == 401
    assert httpx.get(f"{server.url}/v1/gallery").json()["total"] == 0  # nothing was written


def test_without_a_key_file_the_gallery_is_read_only_over_http(gallery, tmp_path):
    with _server(gallery, str(tmp_path / "g.db"), None) as live:
        response = _enroll(live.url, "anything", gallery.paths[:1], "a")
        assert response.status_code == 403
        assert "read-only over HTTP: start siamkit serve with --api-keys FILE" in response.json()["detail"]
        assert httpx.get(f"{live.url}/v1/gallery").status_code == 200  # reads stay open


def test_reads_can_require_a_key(gallery, keys, tmp_path):
    with _server(gallery, str(tmp_path / "g.db"), keys, read_access="key") as live:
        assert _enroll(live.url, keys["write"], gallery.paths[:1], "a").status_code == 201
        assert httpx.get(f"{live.url}/v1/gallery").status_code == 401
        assert httpx.get(f"{live.url}/v1/gallery", headers={"X-API-Key": keys["read"]}).json()["total"] == 1
        one = {"image": Path(gallery.paths[0]).read_bytes()}
        assert httpx.post(f"{live.url}/v1/search", files=one).status_code == 401
        assert _search_ids(live.url, gallery.paths[0], headers={"X-API-Key": keys["read"]})
        assert httpx.get(f"{live.url}/healthz").status_code == 200 and httpx.get(f"{live.url}/v1/model").status_code == 200


def test_a_bad_or_oversized_enrollment_changes_nothing(server, gallery, keys, tmp_path):
    good = Path(gallery.paths[0]).read_bytes()
    cases = {
        "not an image": [("images", ("a.png", good, "image/png")), ("images", ("b.png", b"not an image", "image/png"))],
        "too large": [("images", ("a.png", good, "image/png")), ("images", ("big.png", good + b"\0" * int(TEST_UPLOAD_MB * 2**20), "image/png"))],
    }
    headers = {"X-API-Key": keys["write"]}
    for files in cases.values():
        response = httpx.post(f"{server.url}/v1/gallery", files=files, data={"label": "a"}, headers=headers, timeout=60)
        assert response.status_code in (413, 415), response.text
    for data in ({"label": ""}, {"label": "a", "metadata": "{not json"}, {"label": "a", "metadata": "[1, 2]"}):
        response = httpx.post(f"{server.url}/v1/gallery", files=[("images", ("a.png", good, "image/png"))], data=data, headers=headers)
        assert response.status_code in (400, 422), response.text
    assert httpx.get(f"{server.url}/v1/gallery").json()["total"] == 0


def test_keys_never_reach_the_log(gallery, keys, tmp_path, caplog):
    with caplog.at_level(logging.DEBUG), _server(gallery, str(tmp_path / "g.db"), keys) as live:
        _enroll(live.url, keys["write"], gallery.paths[:1], "a")
        httpx.get(f"{live.url}/v1/gallery", headers={"Authorization": f"Bearer {keys['read']}"})
        _enroll(live.url, keys["read"], gallery.paths[:1], "a")
    text = caplog.text
    assert "enroller" in text  # the key's name is logged
    assert keys["write"] not in text and keys["read"] not in text
    assert keys["write"] not in Path(keys["file"]).read_text()  # only hashes in the file


def test_eight_clients_enrolling_while_others_search(server, gallery, keys):
    import concurrent.futures

    def enroll(worker: int) -> list[int]:
        ids = []
        for step in range(3):
            response = _enroll(server.url, keys["write"], gallery.paths[worker : worker + 2], f"w{worker}")
            assert response.status_code == 201, response.text
            ids += response.json()["ids"]
        return ids

    def search(_: int) -> int:
        for _ in range(5):
            response = httpx.post(f"{server.url}/v1/search", files={"image": Path(gallery.paths[0]).read_bytes()}, timeout=60)
            assert response.status_code in (200, 409), response.text  # 409 only before the first enrollment
        return 0

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        writers = [pool.submit(enroll, worker) for worker in range(8)]
        readers = [pool.submit(search, reader) for reader in range(4)]
        acknowledged = [item_id for future in writers for item_id in future.result()]
        [future.result() for future in readers]
    assert len(acknowledged) == len(set(acknowledged)) == 48
    listed = httpx.get(f"{server.url}/v1/gallery", params={"limit": 500}).json()
    assert sorted(item["id"] for item in listed["items"]) == sorted(acknowledged) and listed["total"] == 48
    assert sorted(_search_ids(server.url, gallery.paths[0], k=100)) == sorted(acknowledged)


def _finds(url: str, path, item_id: int) -> bool:
    response = httpx.post(f"{url}/v1/search", files={"image": Path(path).read_bytes()}, data={"k": 50}, timeout=60)
    assert response.status_code in (200, 409), response.text  # 409: that server's gallery is still empty
    return response.status_code == 200 and item_id in [hit["id"] for hit in response.json()["hits"]]


@pytest.mark.skipif(not POSTGRES, reason="no PostgreSQL server for the tests (.ci/run starts one: SIAMKIT_TEST_POSTGRES)")
def test_two_servers_on_one_postgresql_see_each_others_writes_within_a_second(gallery, keys):
    url = fresh_postgres_url()
    with _server(gallery, url, keys) as first, _server(gallery, url, keys) as second:
        for writer, reader in ((first, second), (second, first)):
            ids = _enroll(writer.url, keys["write"], gallery.paths[:1], "shared").json()["ids"]
            deadline = time.monotonic() + 1.0
            while not _finds(reader.url, gallery.paths[0], ids[0]):
                assert time.monotonic() < deadline, "the other server did not see the enrollment within 1 s"
                time.sleep(0.05)
        httpx.delete(f"{first.url}/v1/gallery/{ids[0]}", headers={"X-API-Key": keys["write"]})
        deadline = time.monotonic() + 1.0
        while _finds(second.url, gallery.paths[0], ids[0]):
            assert time.monotonic() < deadline, "the other server still returns a removed image after 1 s"
            time.sleep(0.05)


def test_api_docs_work_offline(server):
    page = httpx.get(f"{server.url}/docs")
    assert page.status_code == 200
    assert "http://" not in page.text.replace(server.url, "") and "https://" not in page.text.split("<body>")[0]
    assert "/docs-assets/swagger-ui-bundle.js" in page.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert httpx.get(f"{server.url}/docs-assets/{asset}").status_code == 200
    assert httpx.get(f"{server.url}/redoc").status_code == 404
