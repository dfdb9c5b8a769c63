"""The web page in a real headless Chromium: compare two images, then search with one."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT_COPY = Path("/tmp/siamkit_service_screenshot.png")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def wait_until(page, expression: str, timeout: float = 30.0) -> None:
    """Poll a JavaScript expression (the page's CSP forbids the eval behind wait_for_function)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("headless Chromium is not installed at /usr/bin/chromium (apt-get install chromium chromium-driver)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def test_compare_and_search_on_the_page(browser, live, gallery, tmp_path):
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    page.goto(f"{live.url}/")
    wait_until(page, "document.getElementById('model-info').textContent.includes('resnet10t')")

    first, second = gallery.paths[0], gallery.paths[13]
    page.set_input_files("#file-a", first)
    page.set_input_files("#file-b", second)
    wait_until(page, "['same', 'different'].includes(document.getElementById('compare-result').dataset.state)")
    expected = gallery.model.compare(first, second)
    shown = float(page.inner_text("#compare-similarity").rstrip("%"))
    assert shown == pytest.approx(100 * expected.similarity, abs=0.06)
    assert page.inner_text("#compare-verdict") == ("Same" if expected.same else "Different")

    page.set_input_files("#search-file", gallery.paths[9])
    page.wait_for_selector("#search-results .tile")
    tiles = page.locator("#search-results .tile")
    assert tiles.count() == 10
    assert tiles.first.locator(".tile-label").inner_text() == gallery.labels[9]
    # Every tile's picture actually loaded from /v1/gallery/<id>.
    wait_until(page, "[...document.querySelectorAll('#search-results img')].every(i => i.complete && i.naturalWidth > 0)")

    screenshot = tmp_path / "siamkit_service.png"
    page.screenshot(path=str(screenshot), full_page=True)
    shutil.copyfile(screenshot, SCREENSHOT_COPY)

    # Phone-sized: nothing wider than the screen.
    page.set_viewport_size({"width": 375, "height": 740})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.screenshot(path=str(tmp_path / "siamkit_service_phone.png"), full_page=True)
    shutil.copyfile(tmp_path / "siamkit_service_phone.png", SCREENSHOT_COPY.with_name("siamkit_service_screenshot_phone.png"))

    assert problems == []  # no script errors, no blocked (off-site) resources
    assert all(url.startswith((live.url, "blob:", "data:")) for url in requested), requested
    page.close()


def test_a_bad_upload_shows_the_reason_on_the_page(browser, live, gallery, tmp_path):
    page = browser.new_page(viewport={"width": 800, "height": 700})
    page.goto(f"{live.url}/")
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("I am not a picture")
    page.set_input_files("#file-a", gallery.paths[0])
    page.set_input_files("#file-b", str(not_an_image))
    wait_until(page, "document.getElementById('compare-result').dataset.state === 'error'")
    assert "not a recognised image format" in page.inner_text("#compare-detail")
    page.close()


def test_enroll_browse_and_remove_on_the_page(browser, gallery, tmp_path):
    """The gallery section of a server with a store: a missing key is explained, a write key
    enrolls, the label shows with its count, a tile's Remove removes that image."""
    import httpx

    from siamkit.gallery import open_store
    from siamkit.gallery.keys import KeyFile, add_key
    from siamkit.service import ServiceSettings, create_app
    from tests.service.conftest import LiveServer

    keys = tmp_path / "keys.txt"
    key = add_key(keys, "page-test", "write")
    store = open_store(tmp_path / "gallery.db", create=True, model_id=gallery.model.model_id, embedding_dim=gallery.model.embedding_dim)
    with LiveServer(create_app(gallery.model, None, ServiceSettings(), store, KeyFile.load(keys))) as server:
        page = browser.new_page(viewport={"width": 1100, "height": 1200})
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on("console", lambda message: problems.append(message.text) if message.type == "error" and "401" not in message.text else None)
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.goto(f"{server.url}/")
        wait_until(page, "!document.getElementById('gallery-card').hidden")

        page.set_input_files("#enroll-files", gallery.paths[:2])
        page.fill("#enroll-label", "whale-27")
        page.click("#enroll-submit")
        wait_until(page, "document.getElementById('enroll-status').textContent.startsWith('Could not enroll')")
        assert "API key" in page.inner_text("#enroll-status")
        assert httpx.get(f"{server.url}/v1/gallery").json()["total"] == 0

        page.fill("#api-key", key)
        page.click("#enroll-submit")
        wait_until(page, "document.getElementById('enroll-status').textContent.startsWith('Enrolled 2 images as whale-27')")
        wait_until(page, "[...document.querySelectorAll('#gallery-labels button')].some(b => b.textContent === 'whale-27 (2)')")
        wait_until(page, "document.querySelectorAll('#gallery-items .tile').length === 2")
        wait_until(page, "[...document.querySelectorAll('#gallery-items img')].every(i => i.complete && i.naturalWidth > 0)")
        page.screenshot(path=str(tmp_path / "gallery.png"), full_page=True)
        shutil.copyfile(tmp_path / "gallery.png", SCREENSHOT_COPY.with_name("siamkit_gallery_screenshot.png"))

        page.locator("#gallery-items .tile").first.locator(".tile-remove").click()
        wait_until(page, "document.querySelectorAll('#gallery-items .tile').length === 1")
        wait_until(page, "[...document.querySelectorAll('#gallery-labels button')].some(b => b.textContent === 'whale-27 (1)')")
        assert httpx.get(f"{server.url}/v1/gallery").json()["total"] == 1

        page.set_viewport_size({"width": 375, "height": 740})
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        assert problems == []
        assert all(url.startswith((server.url, "blob:", "data:")) for url in requested), requested
        page.close()


def test_the_gallery_section_stays_hidden_without_a_store(browser, live):
    page = browser.new_page()
    page.goto(f"{live.url}/")
    wait_until(page, "document.getElementById('model-info').textContent.includes('resnet10t')")
    time.sleep(0.3)
    assert page.locator("#gallery-card").is_hidden()
    page.close()
