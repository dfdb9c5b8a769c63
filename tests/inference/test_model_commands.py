"""``siamkit compare / embed / index / search / export`` end to end, in a real subprocess."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest


def _siamkit(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "siamkit.cli.main", *map(str, args)], capture_output=True, text=True, timeout=300, cwd=cwd
    )


def _ok(completed: subprocess.CompletedProcess) -> str:
    assert completed.returncode == 0, completed.stderr
    assert "Traceback" not in completed.stderr
    return completed.stdout


def _one_line_error(completed: subprocess.CompletedProcess, *words: str) -> str:
    assert completed.returncode == 2, (completed.stdout, completed.stderr)
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("siamkit: error: "), completed.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def gallery(trained, tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("cli") / "gallery"
    shutil.copytree(trained["gallery"], copy)
    return copy


@pytest.fixture(scope="module")
def index(trained, gallery) -> Path:
    path = gallery.parent / "index" / "gallery.idx"
    assert "indexed 12 images (hnsw" in _ok(_siamkit("index", trained["model"], gallery, "--out", path, "--kind", "hnsw"))
    return path


def test_compare_and_export(trained, tmp_path):
    a, b = sorted(Path(trained["gallery"]).rglob("*.png"))[:2]
    result = json.loads(_ok(_siamkit("compare", trained["model"], a, b, "--json")))
    assert set(result) >= {"distance", "similarity", "same", "threshold"}
    assert result["same"] == (result["distance"] <= result["threshold"])

    out = tmp_path / "export" / "net.onnx"
    assert "exported" in _ok(_siamkit("export", trained["model"], "--onnx", out))
    import onnxruntime

    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape[0] == "batch" and session.get_outputs()[0].name == "embeddings"


def test_embed_writes_an_array_and_its_listing(trained, tmp_path):
    out = tmp_path / "vectors" / "gallery.npy"
    _ok(_siamkit("embed", trained["model"], trained["gallery"], "--out", out))
    embeddings = np.load(out)
    listing = json.loads(out.with_suffix(".json").read_text())
    assert embeddings.shape == (len(listing["paths"]), 16) == (12, 16)
    assert listing["labels"][0] == "id_00" and Path(listing["paths"][0]).is_file()
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)


def test_index_update_and_search(trained, gallery, index, tmp_path):
    added = gallery / "id_new" / "img_0.png"
    added.parent.mkdir()
    shutil.copy(gallery / "id_01" / "img_0.png", added)
    updated = _ok(_siamkit("index", trained["model"], gallery, "--out", index, "--update"))
    assert "indexed 13 images (hnsw; embedded 1, removed 0, unchanged 12)" in updated
    assert not any(path.name.endswith(".tmp") for path in index.parent.iterdir())

    query = gallery / "id_02" / "img_1.png"
    grid = tmp_path / "grid.png"
    # No --model: the index remembers the model folder that built it.
    hits = json.loads(_ok(_siamkit("search", index, query, "-k", "3", "--json", "--grid", grid)))
    assert hits[0]["query"] == str(query) and len(hits[0]["hits"]) == 3
    assert hits[0]["hits"][0]["path"] == str(query) and hits[0]["hits"][0]["label"] == "id_02"
    assert grid.stat().st_size > 1000


def test_bad_inputs_end_with_one_line_and_write_nothing(trained, other_model, gallery, index, tmp_path):
    corrupt = tmp_path / "query.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    grid = tmp_path / "grid.png"
    (tmp_path / "empty" / "nothing").mkdir(parents=True)
    future = tmp_path / "future_model"
    shutil.copytree(trained["model"], future, ignore=shutil.ignore_patterns("*.onnx"))
    config = json.loads((future / "config.json").read_text())
    config["format_version"] = 99
    (future / "config.json").write_text(json.dumps(config))
    before = index.read_bytes()

    cases = {
        "corrupt query": (("search", index, corrupt, "--grid", grid), "query.jpg"),
        "empty gallery": (("index", trained["model"], tmp_path / "empty", "--out", tmp_path / "empty.idx"), "no image files"),
        "newer model folder": (("embed", future, gallery, "--out", tmp_path / "e.npy"), "format 99"),
        "index of another model": (("search", index, gallery / "id_00" / "img_0.png", "--model", other_model), "re-index"),
        "update with another model": (("index", other_model, gallery, "--out", index, "--update"), "re-index"),
    }
    with ThreadPoolExecutor(max_workers=2) as pool:  # independent processes: use both cores
        completed = dict(zip(cases, pool.map(lambda case: _siamkit(*case[0]), cases.values())))
    for name, (_, words) in cases.items():
        _one_line_error(completed[name], words)
    assert index.read_bytes() == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["empty", "future_model", "query.jpg"]
    assert sorted(path.name for path in index.parent.iterdir()) == ["gallery.idx", "gallery.idx.model.json"]
