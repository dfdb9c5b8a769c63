"""Every endpoint and every refusal, over HTTP against a running uvicorn server.

After each refusal the server must still answer, so most error tests end with ``assert_alive``.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from siamkit.service import ServiceSettings
from siamkit.version import __version__
from tests.service.conftest import TEST_UPLOAD_MB

HIT_KEYS = {"id", "path", "label", "similarity", "distance", "same", "image_url"}


@pytest.fixture(scope="module")
def client(live):
    with httpx.Client(base_url=live.url, timeout=60) as client:
        yield client


def assert_alive(client: httpx.Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def png_bytes(seed: int = 0, size: int = 32) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG that claims width x height pixels: a decompression bomb's first bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 1024)) + chunk(b"IEND", b"")


def upload(path: str) -> tuple[str, bytes, str]:
    return Path(path).name, Path(path).read_bytes(), "application/octet-stream"


# ----------------------------------------------------------------------------- working requests


def test_health_and_model_info(client, gallery):
    assert_alive(client)
    info = client.get("/v1/model").json()
    assert info["backbone"] == "resnet10t"
    assert info["embedding_dim"] == 16
    assert info["threshold"] == pytest.approx(gallery.model.threshold)
    assert info["gallery_size"] == len(gallery.paths)
    assert info["siamkit_version"] == __version__
    assert info["batching"]["enabled"] is True


def test_compare_gives_the_library_answer(client, gallery):
    first, second = gallery.paths[0], gallery.paths[5]
    response = client.post("/v1/compare", files={"image_a": upload(first), "image_b": upload(second)})
    assert response.status_code == 200, response.text
    body = response.json()
    expected = gallery.model.compare(first, second)
    assert set(body) == {"distance", "similarity", "same", "threshold"}
    assert body["distance"] == pytest.approx(expected.distance, abs=1e-4)
    assert body["similarity"] == pytest.approx(expected.similarity, abs=1e-4)
    assert body["same"] == expected.same
    assert body["threshold"] == pytest.approx(expected.threshold)


def test_compare_embeddings_is_the_formula_of_compare(gallery):
    """The service embeds its uploads in shared batches, then calls ``compare_embeddings``: the
    same numbers as ``SiameseModel.compare``, not a second copy of the formula."""
    first, second = gallery.paths[0], gallery.paths[5]
    embeddings = gallery.model.embed([first, second])
    assert gallery.model.compare_embeddings(embeddings[0], embeddings[1]) == gallery.model.compare(first, second)


def test_an_image_compared_with_itself_is_the_same(client, gallery):
    image = upload(gallery.paths[3])
    body = client.post("/v1/compare", files={"image_a": image, "image_b": image}).json()
    assert body["distance"] == pytest.approx(0.0, abs=1e-5)
    assert body["similarity"] == pytest.approx(1.0, abs=1e-6)
    assert body["same"] is True


def test_embed_returns_one_unit_row_per_image_in_order(client, gallery):
    chosen = gallery.paths[:3]
    response = client.post("/v1/embed", files=[("images", upload(path)) for path in chosen])
    assert response.status_code == 200, response.text
    body = response.json()
    embeddings = np.asarray(body["embeddings"])
    assert body["dim"] == 16 and embeddings.shape == (3, 16)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    # uploads decode as files do (one decoder), so the same model gives the same numbers
    np.testing.assert_array_equal(embeddings.astype(np.float32), gallery.model.embed(chosen))


def test_search_finds_the_query_first_and_hides_file_paths(client, gallery):
    query = gallery.paths[9]
    response = client.post("/v1/search", files={"image": upload(query)}, data={"k": "5"})
    assert response.status_code == 200, response.text
    hits = response.json()["hits"]
    assert len(hits) == 5
    assert all(set(hit) == HIT_KEYS for hit in hits)
    assert hits[0]["id"] == gallery.index.ids[9]
    assert hits[0]["label"] == gallery.labels[9]
    assert hits[0]["similarity"] == pytest.approx(1.0, abs=1e-5)
    assert [hit["similarity"] for hit in hits] == sorted((hit["similarity"] for hit in hits), reverse=True)
    assert all(hit["image_url"] == f"/v1/gallery/{hit['id']}" for hit in hits)
    assert str(Path(query).parent.parent) not in response.text


def test_search_hits_say_match_or_not_and_name_the_image_without_server_folders(client, gallery):
    query = gallery.paths[9]
    response = client.post("/v1/search", files={"image": upload(query)}, data={"k": "20"})
    assert response.status_code == 200, response.text
    hits = response.json()["hits"]
    threshold = client.get("/v1/model").json()["threshold"]
    assert all(hit["same"] == (hit["distance"] <= threshold) for hit in hits)
    assert hits[0]["same"]
    by_id = dict(zip(gallery.index.ids, gallery.paths))
    for hit in hits:
        assert not Path(hit["path"]).is_absolute() and ".." not in Path(hit["path"]).parts
        assert by_id[hit["id"]].endswith("/" + hit["path"]) and hit["label"] == Path(by_id[hit["id"]]).parent.name
    assert Path(hits[0]["path"]).parts[-2:] == Path(query).parts[-2:]


def test_search_returns_ten_by_default_and_bounds_k(client, gallery):
    image = {"image": upload(gallery.paths[0])}
    assert len(client.post("/v1/search", files=image).json()["hits"]) == 10
    for bad in ("0", "101", "ten"):
        assert client.post("/v1/search", files=image, data={"k": bad}).status_code == 422
    assert_alive(client)


def test_gallery_serves_indexed_images_by_id(client, gallery):
    response = client.get(f"/v1/gallery/{gallery.index.ids[2]}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content == Path(gallery.paths[2]).read_bytes()
    # The TIFF comes back as PNG, decoded to the same pixels.
    tiff_id = gallery.index.ids[gallery.paths.index(next(p for p in gallery.paths if p.endswith(".tif")))]
    converted = client.get(f"/v1/gallery/{tiff_id}")
    assert converted.status_code == 200 and converted.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(converted.content)).size == (32, 32)


@pytest.mark.parametrize(
    "item_id",
    ["999999", "-1", "abc", "1.0", "0x1", "%2Fetc%2Fpasswd", "..%2F..%2Fetc%2Fpasswd", "99999999999999999999999"],
)
def test_gallery_refuses_anything_but_an_indexed_id(client, item_id):
    response = client.get(f"/v1/gallery/{item_id}")
    assert response.status_code == 404
    assert "passwd" not in response.text
    assert_alive(client)


def test_the_page_and_its_files_are_served_with_a_strict_policy(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for element_id in ("file-a", "file-b", "compare-result", "search-file", "search-results"):
        assert f'id="{element_id}"' in page.text
    for name in ("app.js", "style.css"):
        asset = client.get(f"/static/{name}")
        assert asset.status_code == 200
        # No CDNs, no web fonts: nothing on the page comes from another host.
        assert "http://" not in asset.text and "https://" not in asset.text
    assert "http://" not in page.text and "https://" not in page.text
    assert client.get("/openapi.json").json()["info"]["title"] == "siamkit"


# ----------------------------------------------------------------------------- refusals


def test_a_body_over_the_declared_limit_is_refused_with_413(client, gallery):
    big = np.random.default_rng(0).bytes(int(TEST_UPLOAD_MB * 2**20) + 100_000)
    response = client.post("/v1/search", files={"image": ("big.png", big, "image/png")})
    assert response.status_code == 413
    assert "this endpoint accepts (images up to 0.25 MB each)" in response.json()["detail"]
    assert_alive(client)


def test_a_chunked_body_is_counted_while_it_arrives(client):
    boundary = "siamkit-test-boundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"big.png\"\r\n"
            "Content-Type: image/png\r\n\r\n").encode()
    sent = []

    def body():  # no Content-Length: the server has to count
        yield head
        for _ in range(64):  # 4 MB if nobody stopped it
            sent.append(1)
            yield b"\0" * 65536
        yield f"\r\n--{boundary}--\r\n".encode()

    response = client.post("/v1/search", content=body(), headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code == 413
    assert "this endpoint accepts (images up to 0.25 MB each)" in response.json()["detail"]
    assert_alive(client)


def test_one_oversized_image_among_two_is_named(client, gallery):
    big = np.random.default_rng(1).bytes(int(TEST_UPLOAD_MB * 2**20) + 1000)
    response = client.post(
        "/v1/compare", files={"image_a": ("huge.jpg", big, "image/jpeg"), "image_b": upload(gallery.paths[0])}
    )
    assert response.status_code == 413
    assert response.json()["detail"].startswith("image_a (huge.jpg)")
    assert_alive(client)


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"I am not a picture", "not a recognised image format"),
        (b"", "not a recognised image format"),
        (png_bytes()[:200], "cannot decode"),
        (png_header_only(10_000, 10_000), "pixels"),
        (png_header_only(30_000, 30_000), "pixels"),
    ],
    ids=["text", "empty", "truncated", "100-megapixel-bomb", "900-megapixel-bomb"],
)
def test_undecodable_uploads_get_415_with_the_reason(client, gallery, content, reason):
    response = client.post("/v1/compare", files={"image_a": upload(gallery.paths[0]), "image_b": ("upload.png", content, "image/png")})
    assert response.status_code == 415, response.text
    detail = response.json()["detail"]
    assert detail.startswith("image_b (upload.png): ") and reason in detail
    assert_alive(client)


@pytest.mark.parametrize(
    "path, fields",
    [
        ("/v1/compare", {"a": 0, "b": 1}),
        ("/v1/compare", {"image_a": 0}),
        ("/v1/embed", {"image": 0}),
        ("/v1/search", {"file": 0}),
    ],
)
def test_wrong_field_names_get_422(client, gallery, path, fields):
    files = {name: upload(gallery.paths[i]) for name, i in fields.items()}
    response = client.post(path, files=files)
    assert response.status_code == 422
    assert any(error["type"] == "missing" for error in response.json()["detail"])
    assert_alive(client)


def test_too_many_images_for_embed_get_413(client):
    image = ("x.png", png_bytes(), "image/png")
    response = client.post("/v1/embed", files=[("images", image)] * 17)
    assert response.status_code == 413 and "at most 16" in response.json()["detail"]
    assert_alive(client)


def test_search_without_a_gallery_is_a_clear_409(live_without_gallery, gallery):
    with httpx.Client(base_url=live_without_gallery.url, timeout=60) as client:
        response = client.post("/v1/search", files={"image": upload(gallery.paths[0])})
        assert response.status_code == 409 and "--index" in response.json()["detail"]
        assert client.get("/v1/gallery/0").status_code == 404
        info = client.get("/v1/model").json()
        assert info["gallery_size"] == 0 and info["batching"]["enabled"] is False
        # Compare still works without batching.
        image = upload(gallery.paths[0])
        assert client.post("/v1/compare", files={"image_a": image, "image_b": image}).json()["same"] is True
        assert_alive(client)


def test_cors_is_off_unless_an_origin_is_given(client, live_without_gallery):
    preflight = {"Origin": "http://allowed.example", "Access-Control-Request-Method": "POST"}
    assert "access-control-allow-origin" not in client.options("/v1/compare", headers=preflight).headers
    assert "access-control-allow-origin" not in client.get("/v1/model", headers={"Origin": "http://allowed.example"}).headers
    with httpx.Client(base_url=live_without_gallery.url, timeout=60) as other:
        allowed = other.options("/v1/compare", headers=preflight)
        assert allowed.headers["access-control-allow-origin"] == "http://allowed.example"
        refused = other.get("/v1/model", headers={"Origin": "http://elsewhere.example"})
        assert "access-control-allow-origin" not in refused.headers


def test_settings_defaults_and_validation():
    settings = ServiceSettings()
    assert settings.max_upload_bytes == 10 * 2**20 and settings.cors_origins == () and settings.batching
    from siamkit.errors import SiamkitError

    for bad in ({"max_upload_mb": 0}, {"max_batch": 0}, {"batch_wait_ms": -1}, {"cors_origins": ("example.org",)}):
        with pytest.raises(SiamkitError):
            ServiceSettings(**bad)


def test_an_image_just_over_the_limit_is_named_in_bytes(client, gallery):
    """Rounded to KB, 262,145 bytes and the 262,144-byte limit would both read "256 KB"."""
    limit = int(TEST_UPLOAD_MB * 2**20)
    response = client.post("/v1/compare", files={"image_a": upload(gallery.paths[0]), "image_b": ("b.jpg", b"\0" * (limit + 1), "image/jpeg")})
    assert response.status_code == 413
    assert response.json()["detail"] == f"image_b (b.jpg): {limit + 1:,} bytes is over the limit of {limit:,} bytes per image"
    assert_alive(client)
