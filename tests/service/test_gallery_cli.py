"""``siamkit gallery`` and ``siamkit keys`` on a real store, and ``siamkit serve --gallery`` killed
with SIGKILL: every acknowledged enrollment is there after the restart."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from siamkit.cli.main import app
from siamkit.gallery import open_store


def _cli(*args) -> str:
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_add_list_remove_and_import_from_the_command_line(gallery, tmp_path):
    store = tmp_path / "gallery.db"
    out = _cli("gallery", "add", store, *gallery.paths[:3], "--model", gallery.model_folder, "--label", "whale-7", "--metadata", '{"boat": "A"}')
    assert "enrolled 3 image(s)" in out and "ids 1-3" in out
    folder = Path(gallery.paths[0]).parent.parent  # a gallery folder: labels are the identity folders
    out = _cli("gallery", "add", store, folder, "--model", gallery.model_folder)
    listed = json.loads(_cli("gallery", "list", store, "--json", "--limit", "500"))
    assert listed["total"] == 3 + len([p for p in gallery.paths if p.endswith(".png")])
    assert listed["items"][0]["metadata"] == {"boat": "A"} and listed["items"][3]["label"] == "id_00"
    assert "whale-7 (3)" in _cli("gallery", "list", store)
    assert "removed 2 image(s)" in _cli("gallery", "remove", store, 1, 2, 999)
    assert json.loads(_cli("gallery", "list", store, "--label", "whale-7", "--json"))["total"] == 1
    # an index written by siamkit index moves into a store with its embeddings and images
    imported = tmp_path / "imported.db"
    assert f"imported {len(gallery.paths)} image(s)" in _cli("gallery", "import", imported, gallery.index_file)
    with open_store(imported) as copy:
        assert copy.count() == len(gallery.paths) and copy.model()[0] == gallery.model.model_id
        assert copy.image(1) == Path(gallery.index.get(gallery.index.ids[0])["path"]).read_bytes()


@pytest.mark.slow
def test_a_store_refuses_another_model_and_bad_input_in_one_line(gallery, other_model_folder, tmp_path):
    store = tmp_path / "gallery.db"
    _cli("gallery", "add", store, gallery.paths[0], "--model", gallery.model_folder)
    for args, fragment in (
        (["add", store, gallery.paths[0], "--model", other_model_folder], "holds embeddings of model"),
        (["add", store, gallery.paths[0], "--model", gallery.model_folder, "--metadata", "{nope"], "metadata: not JSON"),
        (["add", store, tmp_path / "missing.png", "--model", gallery.model_folder], "not found"),
        (["list", tmp_path / "none.db"], "no gallery store there"),
    ):
        process = subprocess.run([sys.executable, "-m", "siamkit.cli.main", "gallery", *map(str, args)], capture_output=True, text=True, timeout=120)
        assert process.returncode == 2 and "Traceback" not in process.stderr, process.stderr
        assert fragment in process.stderr.strip().splitlines()[-1]
    assert open_store(store).count() == 1


def test_keys_add_prints_the_key_once_and_stores_its_hash(tmp_path):
    file = tmp_path / "keys.txt"
    key = _cli("keys", "add", file, "door-camera", "--scope", "write").strip()
    assert key.startswith("sk_") and key not in file.read_text()
    assert oct(file.stat().st_mode & 0o777) == "0o600"
    from siamkit.gallery.keys import KeyFile

    entry = KeyFile.load(file).find(key)
    assert entry.name == "door-camera" and entry.allows("write")
    result = CliRunner().invoke(app, ["keys", "add", str(file), "door-camera"])
    assert "a key named 'door-camera' is already there" in str(result.exception)


def _start(command: list[str]) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stderr], daemon=True).start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            match = re.search(r"at (http://127\.0\.0\.1:\d+) ", lines.get(timeout=1))
        except queue.Empty:
            assert process.poll() is None, "siamkit serve exited early"
            continue
        if match:
            url = match.group(1)
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{url}/healthz").status_code == 200:
                        return process, url
                except httpx.TransportError:
                    time.sleep(0.05)
    process.kill()
    raise AssertionError("siamkit serve did not start")


@pytest.mark.slow
def test_an_acknowledged_enrollment_survives_kill_9(gallery, tmp_path):
    from siamkit.gallery.keys import add_key

    keys = tmp_path / "keys.txt"
    key = add_key(keys, "enroller", "write")
    store = tmp_path / "gallery.db"
    command = [sys.executable, "-m", "siamkit.cli.main", "serve", str(gallery.model_folder), "--gallery", str(store), "--api-keys", str(keys), "--port", "0"]
    process, url = _start(command)
    acknowledged = []
    try:
        for index, path in enumerate(gallery.paths[:6]):
            response = httpx.post(f"{url}/v1/gallery", files={"images": Path(path).read_bytes()}, data={"label": f"l{index % 2}"}, headers={"X-API-Key": key}, timeout=60)
            assert response.status_code == 201, response.text
            acknowledged += response.json()["ids"]
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    process, url = _start(command)
    try:
        listed = httpx.get(f"{url}/v1/gallery", params={"limit": 100}).json()
        assert sorted(item["id"] for item in listed["items"]) == sorted(acknowledged)
        hits = httpx.post(f"{url}/v1/search", files={"image": Path(gallery.paths[0]).read_bytes()}, data={"k": 1}).json()["hits"]
        assert hits[0]["id"] == acknowledged[0]
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0


def test_worker_processes_share_the_store_and_the_keys(monkeypatch, gallery, tmp_path):
    """``siamkit serve --workers N --gallery STORE --api-keys FILE``: each worker opens the store and the keys."""
    from siamkit.gallery.keys import add_key
    from siamkit.service import ServiceSettings
    from siamkit.service.app import ENVIRONMENT_VARIABLE, create_app_from_environment

    keys = tmp_path / "keys.txt"
    key = add_key(keys, "enroller", "write")
    store = tmp_path / "gallery.db"
    _cli("gallery", "add", store, gallery.paths[0], "--model", gallery.model_folder)
    settings = ServiceSettings(read_access="key")
    config = {"model": str(gallery.model_folder), "index": None, "gallery": str(store), "api_keys": str(keys), "backend": "torch",
              "settings": settings.to_dict(), "torch_threads": None}
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, json.dumps(config))
    state = create_app_from_environment().state.service
    assert state.settings.read_access == "key" and len(state.gallery) == 1 and state.keys.find(key).name == "enroller"
    state.gallery.store.close()


def test_serve_refuses_contradictory_gallery_options_in_one_line(monkeypatch, capsys, gallery, tmp_path):
    from siamkit.cli.errors import run_cli

    for args, fragment in (
        (["--index", gallery.index_file, "--gallery", tmp_path / "g.db"], "--index and --gallery: serve one"),
        (["--gallery", tmp_path / "g.db", "--read-access", "key"], "--read-access key needs --api-keys FILE"),
        (["--gallery", tmp_path / "g.db", "--api-keys", tmp_path / "none.txt"], "no such file"),
        (["--gallery", tmp_path / "g.db", "--read-access", "everyone"], "--read-access 'everyone'"),
    ):
        monkeypatch.setattr(sys, "argv", ["siamkit", "serve", str(gallery.model_folder), *map(str, args)])
        code, stderr = run_cli(app), capsys.readouterr().err
        assert code == 2 and "Traceback" not in stderr, stderr
        assert fragment in stderr.strip().splitlines()[-1], stderr
    assert not (tmp_path / "g.db").exists()  # refused before anything was created
