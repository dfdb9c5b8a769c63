"""How fast, how accurate and how big is gallery search at a million images, on a small machine?

Builds siamkit's three gallery index kinds (exact = IndexFlatIP, hnsw = IndexHNSWFlat,
ivf = IndexIVFFlat) plus, for memory comparison, a raw FAISS IVF-PQ index over the same
synthetic gallery, then for each prints build time, resident memory, p50 and mean latency of a
single top-10 query, recall@10 against exact (numpy brute force) search, and the speed-up over
numpy brute force measured in the same run.

Memory is stated as a budget per kind (``--budget-mb``; defaults in ``DEFAULT_BUDGETS_MB``,
measured figures in docs/scale.md) and each line ends PASS or FAIL; the exit status is 1 when
any budget is exceeded, so the run can gate a change. "mem MB" is what a search process gains
in resident memory by loading the index (``faiss.deserialize_index`` of the saved bytes, after
``malloc_trim``), which counts structures FAISS rebuilds on load and never writes to disk (the
id map's reverse table); "file MB" is the serialized size. The per-image table every siamkit
index keeps beside the vectors (path, label, sha256 per image) is measured once with realistic,
distinct strings, as the ``items`` budget.

The gallery is synthetic but clustered the way real embeddings are: a mixture of ``--clusters``
Gaussian blobs, each varying along its own ``--intrinsic-dim`` directions (plus a little
isotropic noise), normalised to unit length. Pure isotropic noise in 128-d would make every
neighbour nearly equidistant, which no approximate index can rank and no image model produces.
Queries are fresh draws from the same mixture, not gallery items. Each query is timed alone
(as a search service sees them) through ``GalleryIndex.search``, result dicts included; numpy
brute force and the exact index are timed on the first ``--slow-queries`` only, since each of
their queries scans the whole gallery. "vs numpy" = numpy's mean ms / the index's mean ms.

Run from the repository root. The default size needs about 10 minutes on 2 idle cores (the
``cpu s`` column lets you check: wall time is about CPU time / threads when nothing else runs);
on a shared machine it takes as much longer as the load average says (21 minutes at load 8).

    PYTHONPATH=src python benchmarks/search_speed.py            # 1,000,000 x 128-d
    PYTHONPATH=src python benchmarks/search_speed.py --n 50000  # a quick look
    PYTHONPATH=src python benchmarks/search_speed.py --kinds ivfpq --budget-mb ivfpq=32
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import sys
import time
from pathlib import Path

# Resident memory allowed per kind for 1,000,000 x 128-d, in MB (10^6 bytes): the figures measured
# in docs/scale.md plus 5-20% (ivfpq: the 64 MB target; PQ32 took 41). "items" is siamkit's
# per-image table, the same for every kind.
DEFAULT_BUDGETS_MB = {"exact": 600, "hnsw": 900, "ivf": 600, "ivfpq": 64, "items": 550}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="gallery size")
    parser.add_argument("--dim", type=int, default=128, help="embedding size")
    parser.add_argument("--queries", type=int, default=1000, help="queries timed one at a time")
    parser.add_argument("--slow-queries", type=int, default=100,
                        help="queries timed for numpy brute force and the exact index (each takes tens of ms)")
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--intrinsic-dim", type=int, default=16, help="directions each cluster varies along")
    parser.add_argument("--cluster-spread", type=float, default=2.0,
                        help="within-cluster spread relative to the distance between cluster centres")
    parser.add_argument("--threads", type=int, default=2, help="BLAS/OpenMP threads (the target is 2 cores)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kinds", default="exact,hnsw,ivf,ivfpq", help="comma-separated subset to run")
    parser.add_argument("--hnsw-m", type=int, default=None, help="HNSW links per node (default: siamkit's)")
    parser.add_argument("--ef-construction", type=int, default=None, help="HNSW build effort (default: siamkit's)")
    parser.add_argument("--ef-search", default=None, help="comma-separated HNSW efSearch values to sweep")
    parser.add_argument("--nprobe", default=None, help="comma-separated IVF nprobe values to sweep")
    parser.add_argument("--pq", default="16,32",
                        help="comma-separated IVF-PQ code sizes, bytes per vector (dim must divide by each); "
                        "the last one is held to the ivfpq budget")
    parser.add_argument("--budget-mb", type=parse_budgets, default={},
                        help="memory budgets overriding the defaults, e.g. hnsw=900,ivfpq=64 (defaults: "
                        + ",".join(f"{k}={v}" for k, v in DEFAULT_BUDGETS_MB.items()) + ", for 1M x 128-d)")
    return parser.parse_args()


def parse_budgets(text: str) -> dict:
    budgets = {}
    for part in filter(None, text.split(",")):
        name, _, value = part.partition("=")
        if name not in DEFAULT_BUDGETS_MB or not value:
            raise argparse.ArgumentTypeError(f"{part!r}: give KIND=MB with KIND one of {', '.join(DEFAULT_BUDGETS_MB)}")
        budgets[name] = float(value)
    return budgets


def main() -> None:
    args = parse_args()
    # Thread counts must be fixed before numpy and faiss start their pools.
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(args.threads)
    run(args)


def run(args: argparse.Namespace) -> None:
    import faiss
    import numpy as np

    try:
        from siamkit.search import GalleryIndex
    except ImportError:  # run straight from a checkout without PYTHONPATH=src
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
        from siamkit.search import GalleryIndex
    from siamkit.search.hnsw_backend import HNSW_DEFAULTS
    from siamkit.search.ivf_backend import IVF_DEFAULTS

    faiss.omp_set_num_threads(args.threads)
    print(f"# gallery {args.n:,} x {args.dim}-d, {args.clusters} clusters of intrinsic dim {args.intrinsic_dim}, "
          f"spread {args.cluster_spread}; {args.queries} queries; {args.threads} threads; "
          f"faiss {faiss.__version__}, numpy {np.__version__}")
    # Latencies on a shared machine include time spent waiting for a core; the load says how much.
    print(f"# load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    run_started = started = time.perf_counter()
    # First, while no freed Python objects can lend their memory to the table and hide its size.
    items_bytes = items_memory(args.n, args.clusters)
    print(f"# item table of {args.n:,} images measured in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    gallery, queries = synthetic_gallery(np, args)
    print(f"# data generated in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    truth = brute_force_top10(np, gallery, queries)
    print(f"# ground truth (numpy, batched) in {time.perf_counter() - started:.1f} s")
    numpy_ms = time_numpy_single_queries(np, gallery, queries[: args.slow_queries])
    print(f"# numpy brute force, one query at a time: p50 {np.median(numpy_ms):.2f} ms, mean {np.mean(numpy_ms):.2f} ms")
    print()
    print(f"{'index':<44} {'build s':>8} {'cpu s':>7} {'mem MB':>7} {'file MB':>7} {'p50 ms':>7} {'mean ms':>7} "
          f"{'recall@10':>9} {'vs numpy':>8}")

    paths = [f"img/{i:07d}.jpg" for i in range(args.n)]
    labels = ["x"] * args.n
    hashes = ["0" * 64] * args.n
    kinds = args.kinds.split(",")
    trained_ivf = None
    budgets = {**DEFAULT_BUDGETS_MB, **args.budget_mb}
    measured = {}  # kind -> (memory bytes, line of the default setting)

    def report(name, build, memory, search_one, n_queries, kind=None, default=False):
        latencies, found = [], []
        for query in queries[:n_queries]:
            begin = time.perf_counter()
            found.append(search_one(query[None, :]))
            latencies.append((time.perf_counter() - begin) * 1000)
        recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth[:n_queries])])
        mean = float(np.mean(latencies))
        print(f"{name:<44} {build[0]:>8.1f} {build[1]:>7.1f} {memory[0] / 1e6:>7.1f} {memory[1] / 1e6:>7.1f} "
              f"{np.median(latencies):>7.3f} {mean:>7.3f} {recall:>9.4f} {np.mean(numpy_ms) / mean:>7.1f}x", flush=True)
        if kind is not None and (default or kind not in measured):
            measured[kind] = (memory[0], f"{name.rstrip(' *')}: p50 {np.median(latencies):.2f} ms, recall@10 {recall:.3f}, "
                                         f"built in {build[0]:.0f} s")

    def gallery_search(index):
        return lambda query: [hit["id"] for hit in index.search(query, k=10)[0]]

    for kind in ("exact", "hnsw", "ivf"):
        if kind not in kinds:
            continue
        params = {}
        if kind == "hnsw":
            chosen = {"m": args.hnsw_m, "ef_construction": args.ef_construction}
            params = {name: value for name, value in chosen.items() if value}
        begin, begin_cpu = time.perf_counter(), time.process_time()
        index = GalleryIndex.build(gallery, paths, labels, hashes, "benchmark", kind=kind, **params)
        build_s = (time.perf_counter() - begin, time.process_time() - begin_cpu)
        memory = index_memory(faiss, index.faiss_index)
        if kind == "exact":
            report("exact (IndexFlatIP)", build_s, memory, gallery_search(index), args.slow_queries, kind, True)
            continue
        knob = "ef_search" if kind == "hnsw" else "nprobe"
        default = (HNSW_DEFAULTS if kind == "hnsw" else IVF_DEFAULTS)[knob]
        sweep = getattr(args, knob)
        values = [int(v) for v in sweep.split(",")] if sweep else [default // 2, default, default * 2, default * 4]
        for value in values:
            index.set_search_params(**{knob: value})
            used = index.search_params
            shape = f"M={used['m']} efC={used['ef_construction']}" if kind == "hnsw" else f"nlist={used['nlist']}"
            marker = " *" if value == default and not params else ""
            report(f"{kind} {shape} {knob}={value}{marker}", build_s, memory, gallery_search(index), args.queries,
                   kind, value == default)
        if kind == "ivf" and index.kind == "ivf":
            trained_ivf = index
        del index

    if "ivfpq" in kinds:
        ivfpq_report(faiss, np, args, gallery, report, trained_ivf)
    del trained_ivf
    measured["items"] = (items_bytes, "path, label and sha256 of every image, for any kind")
    print()
    print("# * = siamkit's default setting. build s = wall clock, cpu s = CPU time of this process (on a")
    print("# shared machine cpu s / threads estimates the wall time on idle cores); build is per index,")
    print("# repeated on each sweep line. mem MB = resident memory gained by loading the index, file MB =")
    print("# bytes of faiss.serialize_index.")
    print()
    scale = args.n / 1_000_000 * args.dim / 128
    print(f"# memory budgets (MB; defaults are for 1,000,000 x 128-d{'' if scale == 1 else ', not scaled to this run'}):")
    failed = False
    for kind, (memory, detail) in measured.items():
        verdict = "PASS" if memory / 1e6 <= budgets[kind] else "FAIL"
        failed |= verdict == "FAIL"
        print(f"{verdict}  {kind:<6} {memory / 1e6:>7.1f} MB of {budgets[kind]:>6g} MB  ({detail})")
    print(f"# total {time.perf_counter() - run_started:.0f} s; "
          f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if failed:
        sys.exit(1)


def resident_bytes() -> int:
    """Resident set size of this process (Linux); 0 where /proc is missing."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _release_freed_memory() -> None:
    """Return freed heap pages to the OS, so a before/after difference counts only live data."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def index_memory(faiss, index) -> tuple[int, int]:
    """``(resident bytes of a freshly loaded copy, serialized bytes)`` of a FAISS index.

    Without /proc the serialized size stands in for the resident size.
    """
    stored = faiss.serialize_index(index)
    _release_freed_memory()
    before = resident_bytes()
    copy = faiss.deserialize_index(stored)
    _release_freed_memory()
    loaded = resident_bytes() - before
    del copy
    return (loaded if before else len(stored)), len(stored)


def items_memory(n: int, clusters: int) -> int:
    """Resident bytes of siamkit's item table for ``n`` images with distinct paths and hashes."""
    import hashlib

    from siamkit.search.gallery_items import GalleryItems

    _release_freed_memory()
    before = resident_bytes()
    columns = {
        "next_id": n,
        "ids": list(range(n)),
        "paths": [f"/data/gallery/identity_{i % clusters:05d}/image_{i:08d}.jpg" for i in range(n)],
        "labels": [f"identity_{i % clusters:05d}" for i in range(n)],
        "content_hashes": [hashlib.sha256(i.to_bytes(8, "little")).hexdigest() for i in range(n)],
    }
    items = GalleryItems.from_json(columns)
    del columns
    _release_freed_memory()
    used = resident_bytes() - before
    del items
    return used


def ivfpq_report(faiss, np, args, gallery, report, trained_ivf=None) -> None:
    """Raw FAISS IVF-PQ (not a siamkit kind): ``--pq`` bytes per vector instead of 4 x dim.

    Reuses the IVF index's trained lists when there is one, so only the product quantizer is
    trained here; its build time then excludes the coarse k-means. The last ``--pq`` size at
    nprobe=32 is the one held to the ivfpq budget.
    """
    if trained_ivf is not None:
        coarse = trained_ivf.faiss_index.quantizer
        nlist = coarse.ntotal
        centroids = coarse.reconstruct_n(0, nlist)
    else:
        nlist = max(1, min(round(4 * np.sqrt(args.n)), args.n // 39))
        centroids = None
    sizes = [int(size) for size in args.pq.split(",")]
    for size in sizes:
        quantizer = faiss.IndexFlatIP(args.dim)
        if centroids is not None:
            quantizer.add(centroids)
        begin, begin_cpu = time.perf_counter(), time.process_time()
        index = faiss.IndexIVFPQ(quantizer, args.dim, nlist, size, 8, faiss.METRIC_INNER_PRODUCT)
        index.cp.spherical = True
        index.cp.max_points_per_centroid = 64
        sample = np.random.default_rng(args.seed).choice(args.n, size=min(args.n, 64 * nlist), replace=False)
        index.train(gallery[np.sort(sample)])
        index.add(gallery)
        build_s = (time.perf_counter() - begin, time.process_time() - begin_cpu)
        memory = index_memory(faiss, index)
        label = "ivfpq (+ivf lists)" if centroids is not None else "ivfpq"
        for nprobe in (16, 32):
            index.nprobe = nprobe
            report(f"{label} nlist={nlist} PQ{size} nprobe={nprobe}", build_s, memory,
                   lambda query: [i for i in index.search(query, 10)[1][0].tolist() if i >= 0], args.queries,
                   "ivfpq", nprobe == 32 and size == sizes[-1])
        del index, quantizer


def synthetic_gallery(np, args):
    """Unit vectors from a mixture of low-rank Gaussian blobs (see the module docstring)."""
    rng = np.random.default_rng(args.seed)
    # Blobs spread further than their centres lie apart, so clusters overlap and a query's ten
    # neighbours often span several of them: the case where approximate indexes lose recall.
    centres = rng.standard_normal((args.clusters, args.dim), dtype=np.float32) / args.cluster_spread
    bases = rng.standard_normal((args.clusters, args.intrinsic_dim, args.dim), dtype=np.float32)
    bases /= np.sqrt(args.intrinsic_dim)

    def draw(count):
        cluster = rng.integers(0, args.clusters, size=count)
        out = np.empty((count, args.dim), dtype=np.float32)
        order = np.argsort(cluster, kind="stable")
        bounds = np.searchsorted(cluster[order], np.arange(args.clusters + 1))
        for c in range(args.clusters):
            rows = order[bounds[c] : bounds[c + 1]]
            latent = rng.standard_normal((len(rows), args.intrinsic_dim), dtype=np.float32)
            out[rows] = centres[c] + latent @ bases[c]
        out += 0.1 * rng.standard_normal(out.shape, dtype=np.float32)
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out

    return draw(args.n), draw(args.queries)


def brute_force_top10(np, gallery, queries, chunk: int = 50):
    """Exact top-10 ids per query, in query chunks so the score matrix stays ~200 MB."""
    truth = []
    for start in range(0, len(queries), chunk):
        scores = queries[start : start + chunk] @ gallery.T
        top = np.argpartition(-scores, 10, axis=1)[:, :10]
        truth.extend(top.tolist())
    return truth


def time_numpy_single_queries(np, gallery, queries):
    latencies = []
    for query in queries:
        begin = time.perf_counter()
        scores = gallery @ query
        top = np.argpartition(-scores, 10)[:10]
        top[np.argsort(-scores[top])]
        latencies.append((time.perf_counter() - begin) * 1000)
    return latencies


if __name__ == "__main__":
    main()
