"""Images with many pixels decode in a lane of their own, and still get the right answer.

A PNG of a few KB can claim tens of megapixels; decoded in the shared threads, a couple of
clients sending them made every other request wait seconds (benchmarks/service_attack.py).
"""

from __future__ import annotations

import io
import threading
from pathlib import Path

import httpx
import pytest
from PIL import Image

from siamkit.service.app import LARGE_IMAGE_PIXELS
from siamkit.service.uploads import decode_upload, header_pixels


def one_bit_png(width: int, height: int) -> bytes:
    """Few bytes on the wire, width x height pixels once decoded."""
    buffer = io.BytesIO()
    Image.new("1", (width, height), 1).save(buffer, "PNG")
    return buffer.getvalue()


def test_header_pixels_reads_the_size_without_decoding():
    assert header_pixels(one_bit_png(5000, 4000)) == 20_000_000
    assert header_pixels(b"not an image") == 0
    assert header_pixels(b"") == 0


def test_decode_upload_leaves_images_over_the_lane_limit_undecoded():
    data = one_bit_png(300, 200)
    assert decode_upload(data, "image", "a.png", lambda image: image.size, max_pixels=50_000) is None
    assert decode_upload(data, "image", "a.png", lambda image: image.size, max_pixels=60_000) == (300, 200)
    assert decode_upload(data, "image", "a.png", lambda image: image.size) == (300, 200)


def test_a_large_image_is_decoded_in_its_own_lane_and_compared_correctly(live, gallery):
    side = int(LARGE_IMAGE_PIXELS**0.5) + 100
    large = one_bit_png(side, side)
    small = Path(gallery.paths[0]).read_bytes()
    with httpx.Client(base_url=live.url, timeout=120) as client:
        response = client.post("/v1/compare", files={"image_a": ("large.png", large), "image_b": ("small.png", small)})
    assert response.status_code == 200, response.text
    expected = gallery.model.compare(large, small)
    assert response.json()["distance"] == pytest.approx(expected.distance, abs=1e-4)
    assert any(thread.name.startswith("siamkit-decode-large") for thread in threading.enumerate())
