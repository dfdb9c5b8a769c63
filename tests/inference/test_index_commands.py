"""``siamkit index --shard I/N``, ``siamkit merge-index`` and resuming a killed run, in real subprocesses."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from siamkit.search import GalleryIndex, GalleryShard
from siamkit.search.unit_vectors import numpy_method
from tests.conftest import make_identity_images

pytestmark = pytest.mark.slow  # siamkit index / merge-index in subprocesses

# The CLI with every saved chunk followed by a pause, so a test can kill it between chunks.
SLOW_CLI = """
import sys, time
from siamkit.inference.embedding_chunks import EmbeddingChunks
save = EmbeddingChunks.save
EmbeddingChunks.save = lambda self, number, chunk: (save(self, number, chunk), time.sleep(1.0))
from siamkit.cli.main import main
main()
"""


def _command(*args) -> list[str]:
    return [sys.executable, "-m", "siamkit.cli.main", *map(str, args)]


def _siamkit(*args) -> subprocess.CompletedProcess:
    return subprocess.run(_command(*args), capture_output=True, text=True, timeout=300)


def _ok(completed: subprocess.CompletedProcess) -> str:
    assert completed.returncode == 0, completed.stderr
    assert "Traceback" not in completed.stderr
    return completed.stdout


def _one_line_error(completed: subprocess.CompletedProcess, *words: str) -> None:
    assert completed.returncode == 2, (completed.stdout, completed.stderr)
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("siamkit: error: "), completed.stderr
    for word in words:
        assert word in lines[0], lines[0]


def _vectors(index: GalleryIndex) -> np.ndarray:
    return numpy_method(index.faiss_index, "reconstruct_n")(0, len(index))


@pytest.fixture(scope="module")
def gallery(tmp_path_factory) -> Path:
    folder = make_identity_images(tmp_path_factory.mktemp("sharded") / "gallery", identities=4, per_identity=5, seed=11)
    (folder / "id_02" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return folder


@pytest.fixture(scope="module")
def built(trained, gallery) -> dict:
    """The gallery indexed in one go, and as three shards (built two at a time)."""
    work = gallery.parent / "built"
    runs = [("index", trained["model"], gallery, "--out", work / "whole.idx")]
    runs += [("index", trained["model"], gallery, "--out", work / f"part{i}.shard", "--shard", f"{i}/3") for i in range(3)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        outputs = [_ok(result) for result in pool.map(lambda args: _siamkit(*args), runs)]
    assert "indexed 20 images (exact; embedded 20, removed 0, unchanged 0)" in outputs[0]
    assert all(re.search(r"shard \d/3: embedded \d+ of the gallery's 21 images", output) for output in outputs[1:])
    return {"work": work, "whole": work / "whole.idx", "shards": [work / f"part{i}.shard" for i in range(3)]}


def test_merged_shards_equal_the_one_go_index(built, tmp_path):
    out = tmp_path / "merged.idx"
    merged_output = _ok(_siamkit("merge-index", *built["shards"], "--out", out, "--kind", "exact"))
    assert "indexed 20 images (exact; merged 3 shards, 1 unreadable image(s) left out)" in merged_output
    merged, whole = GalleryIndex.load(out), GalleryIndex.load(built["whole"])
    assert merged.ids == whole.ids and merged.paths == whole.paths and merged.labels == whole.labels
    np.testing.assert_allclose(_vectors(merged), _vectors(whole), atol=1e-5)
    queries = _vectors(whole)[::4]
    assert merged.search(queries, k=5) == whole.search(queries, k=5)
    # Searching works without --model: the merged index noted the model folder like any index.
    query = Path(whole.paths[3])
    hits = _ok(_siamkit("search", out, query, "-k", "1"))
    assert str(query) in hits
    # Nothing left behind: no chunk folders, no temporary files.
    assert sorted(path.name for path in built["work"].iterdir()) == [
        "part0.shard", "part1.shard", "part2.shard", "whole.idx", "whole.idx.model.json",
    ]


def test_sigkill_mid_shard_then_the_same_command_finishes(trained, gallery, built, tmp_path):
    out = tmp_path / "part1.shard"
    arguments = ("index", trained["model"], gallery, "--out", out, "--shard", "1/3", "--chunk-size", "1")
    chunks = tmp_path / "part1.shard.chunks"
    with open(tmp_path / "killed.log", "w") as log:  # a file, not a pipe: a full pipe would stall the run
        process = subprocess.Popen([sys.executable, "-c", SLOW_CLI, *map(str, arguments)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 300
        while not (chunks.is_dir() and any(path.suffix == ".npz" for path in chunks.iterdir())):
            assert process.poll() is None, (tmp_path / "killed.log").read_text()
            assert time.monotonic() < deadline, "no chunk written in 300 s"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    saved = sorted(path.name for path in chunks.iterdir() if path.suffix == ".npz")
    expected_chunks = len(GalleryShard.load(built["shards"][1]).positions) + len(GalleryShard.load(built["shards"][1]).skipped)
    assert 1 <= len(saved) < expected_chunks and not out.exists()

    rerun = _siamkit(*arguments)
    _ok(rerun)
    assert re.search(rf"shard 1/3: {len(saved)} of {expected_chunks} chunks were embedded by an earlier run", rerun.stderr), rerun.stderr
    assert not chunks.exists()
    resumed, reference = GalleryShard.load(out), GalleryShard.load(built["shards"][1])
    assert resumed.positions.tolist() == reference.positions.tolist() and resumed.skipped == reference.skipped
    assert resumed.content_hashes == reference.content_hashes
    np.testing.assert_allclose(resumed.embeddings, reference.embeddings, atol=1e-5)

    merged = tmp_path / "merged.idx"
    _ok(_siamkit("merge-index", built["shards"][0], out, built["shards"][2], "--out", merged))
    assert GalleryIndex.load(merged).paths == GalleryIndex.load(built["whole"]).paths


def test_shards_that_do_not_add_up_are_refused_in_one_line(trained, other_model, gallery, built, tmp_path):
    first, second, third = built["shards"]
    foreign = tmp_path / "foreign.shard"
    _ok(_siamkit("index", other_model, gallery, "--out", foreign, "--shard", "1/3"))
    data = first.read_bytes()
    (tmp_path / "truncated.shard").write_bytes(data[: len(data) // 2])
    tampered = bytearray(data)
    tampered[-3] ^= 0x01
    (tmp_path / "tampered.shard").write_bytes(bytes(tampered))
    out = tmp_path / "merged.idx"

    cases = {
        "another model": (("merge-index", first, foreign, third), "different models"),
        "missing": (("merge-index", first, third), "missing shard(s) 1/3 of 3"),
        "twice": (("merge-index", first, second, second, third), "shard 1/3 given twice"),
        "truncated": (("merge-index", tmp_path / "truncated.shard", second, third), "truncated.shard is truncated"),
        "tampered": (("merge-index", tmp_path / "tampered.shard", second, third), "tampered.shard is corrupted (checksum mismatch)"),
        "bad spec": (("index", trained["model"], gallery, "--out", tmp_path / "x.shard", "--shard", "3/3"), "--shard 3/3"),
        "kind with shard": (("index", trained["model"], gallery, "--out", tmp_path / "x.shard", "--shard", "0/3", "--kind", "hnsw"), "merge-index --kind"),
    }
    with ThreadPoolExecutor(max_workers=2) as pool:
        completed = dict(zip(cases, pool.map(lambda case: _siamkit(*case[0], *(("--out", out) if case[0][0] == "merge-index" else ())), cases.values())))
    for name, (_, words) in cases.items():
        _one_line_error(completed[name], words)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["foreign.shard", "tampered.shard", "truncated.shard"]
