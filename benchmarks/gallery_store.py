"""The living gallery at 100,000 images: enrollment, search, search under writes, restart.

For each store (SQLite always; PostgreSQL with ``--postgres URL``, e.g. from ``.ci/postgres``),
side by side in one run on the same synthetic 128-d unit vectors:

- **fill**: the first ``--items`` images, enrolled 1,000 per transaction (an import);
- **enroll/s**: then single-image enrollments, one transaction each, committed to disk and
  applied to the server's index before the next, as ``POST /v1/gallery`` does them;
- **search p50/p99**: a top-10 query on the server's index at that size, alone;
- **search under writes**: the same for 3 s while another thread enrolls single images without
  pause (writes/s: how many it enrolled meanwhile);
- **restart**: a fresh server's catch-up from the store (what ``siamkit serve`` does after
  ``kill -9``, before it answers), to the last acknowledged image.

The embedding itself (the model) is not timed here: it is the same for every store (see
``embed_speed.py`` and ``service_load.py``). Run from the repository root:
``.venv/bin/python benchmarks/gallery_store.py [--items 100000] [--postgres URL] [--model FOLDER]``
(``--model``: also start a real ``siamkit serve --gallery`` on such a store, kill it with SIGKILL
and time the restarted server until it answers with every image).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from siamkit.gallery import NewItem, open_store  # noqa: E402
from siamkit.gallery.live import LiveGallery  # noqa: E402

DIM = 128
IMAGE = b"\x89PNG" + bytes(6_000)  # about a small JPEG's size, stored with each item


def _vectors(count: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(count, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _items(vectors: np.ndarray, start: int) -> list[NewItem]:
    return [NewItem(f"id{(start + i) % 5000}", vector, IMAGE, f"img{start + i}.jpg") for i, vector in enumerate(vectors)]


def _percentiles(times: list[float]) -> str:
    ms = np.asarray(times) * 1000
    return f"{np.percentile(ms, 50):.2f} / {np.percentile(ms, 99):.2f}"


def measure(location: str, items: int, singles: int, queries: int) -> dict:
    store = open_store(location, create=True, model_id="benchmark", embedding_dim=DIM)
    live = LiveGallery(store, "benchmark", DIM)
    started = time.perf_counter()
    for start in range(0, items, 1000):
        store.add(_items(_vectors(min(1000, items - start), start), start))
    live.catch_up()
    fill = time.perf_counter() - started

    singles_vectors = _vectors(singles, 10**6)
    started = time.perf_counter()
    for offset, vector in enumerate(singles_vectors):
        store.add(_items(vector[None], items + offset))
        live.catch_up()
    enroll_rate = singles / (time.perf_counter() - started)

    probe = _vectors(queries, 7)
    alone = []
    for query in probe:
        started = time.perf_counter()
        live.search(query, 10)
        alone.append(time.perf_counter() - started)

    stop = threading.Event()
    written = [0]

    def writer() -> None:
        vectors = _vectors(5000, 11)
        while not stop.is_set() and written[0] < len(vectors):
            store.add(_items(vectors[written[0]][None], 2 * 10**6 + written[0]))
            live.catch_up()
            written[0] += 1

    thread = threading.Thread(target=writer)
    thread.start()
    loaded = []
    began = time.perf_counter()
    while time.perf_counter() - began < 3.0:  # queries for 3 s while the writer enrolls
        query = probe[len(loaded) % len(probe)]
        started = time.perf_counter()
        live.search(query, 10)
        loaded.append(time.perf_counter() - started)
        time.sleep(0.002)  # a client's pace, so the writer gets the GIL too
    stop.set()
    thread.join()
    write_rate = written[0] / (time.perf_counter() - began)

    total = store.count()
    store.close()
    started = time.perf_counter()
    fresh = LiveGallery(open_store(location), "benchmark", DIM)
    restart = time.perf_counter() - started
    assert len(fresh) == total, (len(fresh), total)
    fresh.store.close()
    return {
        "items": total, "fill": items / fill, "enroll": enroll_rate, "alone": _percentiles(alone),
        "loaded": _percentiles(loaded), "writes": write_rate, "restart": restart,
    }


def restart_after_kill_9(model_folder: str, items: int) -> tuple[float, int]:
    """A real ``siamkit serve --gallery`` over ``items`` images, killed with SIGKILL, then started
    again: seconds from the new process's start to its first answer that lists every image."""
    import re
    import signal
    import subprocess

    import httpx

    from siamkit.inference.siamese_model import SiameseModel

    model = SiameseModel.load(model_folder)
    with tempfile.TemporaryDirectory() as folder:
        location = str(Path(folder) / "gallery.db")
        store = open_store(location, create=True, model_id=model.model_id, embedding_dim=model.embedding_dim)
        for start in range(0, items, 1000):
            vectors = np.random.default_rng(start).normal(size=(min(1000, items - start), model.embedding_dim))
            store.add(_items(vectors, start))
        store.close()
        command = [sys.executable, "-m", "siamkit.cli.main", "serve", model_folder, "--gallery", location, "--port", "0", "--no-access-log"]
        elapsed = []
        for attempt in range(2):  # the first start warms the file cache; the second is timed after kill -9
            started = time.perf_counter()
            process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
            url = None
            for line in process.stderr:
                match = re.search(r"at (http://127\.0\.0\.1:\d+) ", line)
                if match:
                    url = match.group(1)
                    break
            while True:
                try:
                    answer = httpx.get(f"{url}/v1/gallery", params={"limit": 1}, timeout=5)
                    if answer.status_code == 200 and answer.json()["total"] == items:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.02)
            elapsed.append(time.perf_counter() - started)
            process.send_signal(signal.SIGKILL)
            process.wait()
        return elapsed[-1], items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--singles", type=int, default=500, help="single-image enrollments timed")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--postgres", default=os.environ.get("SIAMKIT_TEST_POSTGRES"), help="a PostgreSQL URL (an empty database)")
    parser.add_argument("--model", help="a model folder: also time a real siamkit serve restarted after kill -9")
    args = parser.parse_args()
    stores = {}
    with tempfile.TemporaryDirectory() as folder:
        stores["SQLite (WAL, synchronous=FULL)"] = measure(str(Path(folder) / "gallery.db"), args.items, args.singles, args.queries)
    if args.postgres:
        stores["PostgreSQL"] = measure(args.postgres, args.items, args.singles, args.queries)
    print(f"{'store':32} {'items':>8} {'fill/s':>8} {'enroll/s':>9} {'search p50/p99 ms':>18} {'under writes':>14} {'writes/s':>8} {'restart s':>9}")
    for name, row in stores.items():
        print(f"{name:32} {row['items']:>8,} {row['fill']:>8,.0f} {row['enroll']:>9,.0f} {row['alone']:>18} {row['loaded']:>14} {row['writes']:>8,.0f} {row['restart']:>9.2f}")
    if args.model:
        seconds, items = restart_after_kill_9(args.model, args.items)
        print(f"siamkit serve --gallery (SQLite, {items:,} images) after kill -9: answers with every image {seconds:.2f} s after its start")


if __name__ == "__main__":
    main()
