"""``siamkit serve``: bad inputs stop with one line and exit 2 before a port opens; good ones serve."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

from siamkit.cli.errors import run_cli
from siamkit.cli.main import app


def serve_in_process(monkeypatch, capsys, *args) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["siamkit", "serve", *map(str, args)])
    code = run_cli(app)
    return code, capsys.readouterr().err


def assert_one_line_error(code: int, stderr: str, *fragments: str) -> None:
    assert code == 2, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("siamkit: error:")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_missing_model_folder(monkeypatch, capsys, tmp_path):
    assert_one_line_error(*serve_in_process(monkeypatch, capsys, tmp_path / "nope"), "model folder not found")


def test_folder_that_is_not_a_model(monkeypatch, capsys, tmp_path):
    assert_one_line_error(*serve_in_process(monkeypatch, capsys, tmp_path), "not a siamkit model folder")


def test_missing_and_damaged_index(monkeypatch, capsys, gallery, tmp_path):
    code, err = serve_in_process(monkeypatch, capsys, gallery.model_folder, "--index", tmp_path / "none.index")
    assert_one_line_error(code, err, "does not exist")
    damaged = tmp_path / "damaged.index"
    damaged.write_bytes(gallery.index_file.read_bytes()[:100])
    assert_one_line_error(*serve_in_process(monkeypatch, capsys, gallery.model_folder, "--index", damaged), str(damaged))


def test_index_built_by_another_model(monkeypatch, capsys, gallery, other_model_folder):
    code, err = serve_in_process(monkeypatch, capsys, other_model_folder, "--index", gallery.index_file)
    assert_one_line_error(code, err, "re-index")


@pytest.mark.parametrize(
    "flags, fragment",
    [(["--max-upload-mb", "0"], "--max-upload-mb"), (["--workers", "0"], "--workers"), (["--cors-origin", "example.org"], "--cors-origin")],
)
def test_bad_options(monkeypatch, capsys, gallery, flags, fragment):
    assert_one_line_error(*serve_in_process(monkeypatch, capsys, gallery.model_folder, *flags), fragment)


def test_a_busy_port(monkeypatch, capsys, gallery):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        assert_one_line_error(*serve_in_process(monkeypatch, capsys, gallery.model_folder, "--port", port), f"cannot listen on 127.0.0.1:{port}")


def test_serve_starts_answers_and_stops_on_ctrl_c(gallery):
    command = [sys.executable, "-m", "siamkit.cli.main", "serve", str(gallery.model_folder), "--index", str(gallery.index_file), "--port", "0"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stderr], daemon=True).start()
    try:
        url = None
        deadline = time.monotonic() + 120
        while url is None and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                assert process.poll() is None, "siamkit serve exited early"
                continue
            match = re.search(r"at (http://127\.0\.0\.1:\d+) ", line)
            url = match.group(1) if match else None
        assert url, "siamkit serve never said where it listens"
        for _ in range(200):  # the URL is printed before the model warm-up finishes
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        info = httpx.get(f"{url}/v1/model").json()
        assert info["gallery_size"] == len(gallery.paths)
        image = open(gallery.paths[0], "rb").read()
        compared = httpx.post(f"{url}/v1/compare", files={"image_a": ("a.png", image), "image_b": ("b.png", image)}, timeout=60)
        assert compared.json()["same"] is True
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0


def test_worker_processes_build_the_app_from_the_environment(monkeypatch, gallery):
    """What ``siamkit serve --workers N`` hands each uvicorn worker: folder, index and settings as JSON."""
    import json

    from siamkit.service import ServiceSettings
    from siamkit.service.app import ENVIRONMENT_VARIABLE, create_app_from_environment

    settings = ServiceSettings(max_upload_mb=2.5, cors_origins=("https://example.org",), batching=False)
    config = {"model": str(gallery.model_folder), "index": str(gallery.index_file), "backend": "torch", "settings": settings.to_dict(), "torch_threads": None}
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, json.dumps(config))
    state = create_app_from_environment().state.service
    assert state.settings == settings
    assert state.model.model_id == gallery.model.model_id and len(state.index) == len(gallery.paths)
