"""How fast and how accurate is gallery search at a million images, on a small machine?

Builds siamkit's three gallery index kinds (exact = IndexFlatIP, hnsw = IndexHNSWFlat,
ivf = IndexIVFFlat) plus, for memory comparison, a raw FAISS IVF-PQ index over the same
synthetic gallery, then for each prints build time, serialized index size, p50 and mean
latency of a single top-10 query, recall@10 against numpy brute force, and the speed-up over
numpy brute force measured in the same run.

The gallery is synthetic but clustered the way real embeddings are: a mixture of ``--clusters``
Gaussian blobs, each varying along its own ``--intrinsic-dim`` directions (plus a little
isotropic noise), normalised to unit length. Pure isotropic noise in 128-d would make every
neighbour nearly equidistant, which no approximate index can rank and no image model produces.
Queries are fresh draws from the same mixture, not gallery items. Each query is timed alone
(as a search service sees them) through ``GalleryIndex.search``, result dicts included; numpy
brute force and the exact index are timed on the first ``--slow-queries`` only, since each of
their queries scans the whole gallery. "vs numpy" = numpy's mean ms / the index's mean ms.

Run from the repository root. The default size needs about 8 minutes on 2 idle cores (the
``cpu s`` column lets you check: wall time is about CPU time / threads when nothing else runs);
on a shared machine it takes as much longer as the load average says.

    PYTHONPATH=src python benchmarks/search_speed.py            # 1,000,000 x 128-d
    PYTHONPATH=src python benchmarks/search_speed.py --n 50000  # a quick look
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


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
    return parser.parse_args()


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
    gallery, queries = synthetic_gallery(np, args)
    print(f"# data generated in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    truth = brute_force_top10(np, gallery, queries)
    print(f"# ground truth (numpy, batched) in {time.perf_counter() - started:.1f} s")
    numpy_ms = time_numpy_single_queries(np, gallery, queries[: args.slow_queries])
    print(f"# numpy brute force, one query at a time: p50 {np.median(numpy_ms):.2f} ms, mean {np.mean(numpy_ms):.2f} ms")
    print()
    print(f"{'index':<44} {'build s':>8} {'cpu s':>7} {'size MB':>8} {'p50 ms':>7} {'mean ms':>7} "
          f"{'recall@10':>9} {'vs numpy':>8}")

    paths = [f"img/{i:07d}.jpg" for i in range(args.n)]
    labels = ["x"] * args.n
    hashes = ["0" * 64] * args.n
    kinds = args.kinds.split(",")
    trained_ivf = None

    def report(name, build, size, search_one, n_queries):
        latencies, found = [], []
        for query in queries[:n_queries]:
            begin = time.perf_counter()
            found.append(search_one(query[None, :]))
            latencies.append((time.perf_counter() - begin) * 1000)
        recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth[:n_queries])])
        mean = float(np.mean(latencies))
        print(f"{name:<44} {build[0]:>8.1f} {build[1]:>7.1f} {size / 1e6:>8.1f} {np.median(latencies):>7.3f} "
              f"{mean:>7.3f} {recall:>9.4f} {np.mean(numpy_ms) / mean:>7.1f}x", flush=True)

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
        size = len(faiss.serialize_index(index.faiss_index))
        if kind == "exact":
            report("exact (IndexFlatIP)", build_s, size, gallery_search(index), args.slow_queries)
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
            report(f"{kind} {shape} {knob}={value}{marker}", build_s, size, gallery_search(index), args.queries)
        if kind == "ivf" and index.kind == "ivf":
            trained_ivf = index
        del index

    if "ivfpq" in kinds:
        ivfpq_report(faiss, np, args, gallery, report, trained_ivf)
    print()
    print("# * = siamkit's default setting. build s = wall clock, cpu s = CPU time of this process (on a")
    print("# shared machine cpu s / threads estimates the wall time on idle cores); build and size are per")
    print("# index, repeated on each sweep line. size = bytes of faiss.serialize_index.")
    print(f"# total {time.perf_counter() - run_started:.0f} s; "
          f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def ivfpq_report(faiss, np, args, gallery, report, trained_ivf=None) -> None:
    """Raw FAISS IVF-PQ (not a siamkit kind): 16 bytes per vector instead of 4 x dim.

    Reuses the IVF index's trained lists when there is one, so only the product quantizer is
    trained here; its build time then excludes the coarse k-means.
    """
    if trained_ivf is not None:
        coarse = trained_ivf.faiss_index.quantizer
        nlist = coarse.ntotal
        quantizer = faiss.IndexFlatIP(args.dim)
        quantizer.add(coarse.reconstruct_n(0, nlist))
    else:
        nlist = max(1, min(round(4 * np.sqrt(args.n)), args.n // 39))
        quantizer = faiss.IndexFlatIP(args.dim)
    subquantizers = args.dim // 8
    begin, begin_cpu = time.perf_counter(), time.process_time()
    index = faiss.IndexIVFPQ(quantizer, args.dim, nlist, subquantizers, 8, faiss.METRIC_INNER_PRODUCT)
    index.cp.spherical = True
    index.cp.max_points_per_centroid = 64
    sample = np.random.default_rng(args.seed).choice(args.n, size=min(args.n, 64 * nlist), replace=False)
    index.train(gallery[np.sort(sample)])
    index.add(gallery)
    build_s = (time.perf_counter() - begin, time.process_time() - begin_cpu)
    size = len(faiss.serialize_index(index))
    label = "ivfpq (+ivf lists)" if trained_ivf is not None else "ivfpq"
    for nprobe in (16, 32):
        index.nprobe = nprobe
        report(f"{label} nlist={nlist} PQ{subquantizers} nprobe={nprobe}", build_s, size,
               lambda query: [i for i in index.search(query, 10)[1][0].tolist() if i >= 0], args.queries)


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
