"""How many comparisons a second does ``siamkit serve`` answer on a small machine, and how fast?

Starts ``siamkit serve`` in a subprocess on 127.0.0.1 (once with micro-batching, once without),
then runs ``--clients`` concurrent asyncio httpx clients for ``--seconds`` against
``/v1/compare`` and ``/v1/search``, and prints requests/s, p50/p99 latency, errors and the
batch sizes the server formed. Each client sends its next request as soon as the last one is
answered (a closed loop), so requests/s is the throughput at that concurrency, and by Little's
law the mean latency is clients / (requests/s): 16 clients at 50 req/s wait 320 ms on average.
``--rate R`` instead starts R requests a second on a fixed schedule (an open loop), which
measures the latency at a given load.

Without ``--model`` it builds a model folder first: tf_efficientnet_lite0 with the offline
ImageNet weights, 160 px, 128-d embedding head (untrained head: the speed is the same as a
trained one), threshold 1.0, plus a gallery index of ``--gallery`` generated images. Request
images are generated JPEGs of ``--request-size`` pixels, as a phone app that downsizes before
uploading would send.

The clients run on the same cores as the server, and cost it some CPU. Run from the
repository root:

    .venv/bin/python benchmarks/service_load.py --seconds 20
    .venv/bin/python benchmarks/service_load.py --seconds 60 --modes batching --endpoints compare
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import queue
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="model folder to serve (default: build one)")
    parser.add_argument("--index", type=Path, help="gallery index built with --model (default: build one)")
    parser.add_argument("--workdir", type=Path, help="where to build the model and gallery (default: a temporary folder)")
    parser.add_argument("--gallery", type=int, default=200, help="generated gallery images when building")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (with --rate: most requests in flight)")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="open loop: start this many requests per second whatever the answers (0: closed loop)")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per mode and endpoint")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds of load before each measurement")
    parser.add_argument("--modes", default="batching,no-batching", help="comma-separated: batching, no-batching")
    parser.add_argument("--endpoints", default="compare,search", help="comma-separated: compare, search")
    parser.add_argument("--request-size", type=int, default=224, help="side of the uploaded JPEGs in pixels")
    parser.add_argument("--k", type=int, default=10, help="k for /v1/search")
    parser.add_argument("--backend", default="auto", help="siamkit serve --backend (auto, onnx, torch)")
    parser.add_argument("--threads", type=int, default=1, help="siamkit serve --threads (CPU threads per forward pass; 0: all cores)")
    parser.add_argument("--max-batch", type=int, default=32)
    parser.add_argument("--batch-wait-ms", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


# ----------------------------------------------------------------------------- inputs


def pattern_image(rng: np.random.Generator, size: int, base: np.ndarray | None = None):
    """A blocky colour pattern with noise (a stand-in photo); ``base`` gives a related one."""
    from PIL import Image

    base = rng.integers(0, 256, size=(6, 6, 3)).astype(np.float64) if base is None else base
    pattern = np.kron(base, np.ones((size // 6 + 1, size // 6 + 1, 1)))[:size, :size]
    noisy = np.clip(pattern + rng.normal(0, 14, pattern.shape), 0, 255).astype(np.uint8)
    return Image.fromarray(noisy), base


def jpeg_bytes(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=88)
    return buffer.getvalue()


def build_model_folder(folder: Path, backbone: str = "tf_efficientnet_lite0", pretrained: str = "auto",
                       image_size: int = 160, embedding_dim: int = 128, hidden_dim: int = 512) -> Path:
    """A servable model folder with an untrained head. The defaults are the measured model; the
    attack and fuzz scripts pass resnet10t, random weights, 32 px: the HTTP path is the same."""
    from siamkit.models.backbone import backbone_data_config
    from siamkit.models.model_folder import ModelConfig, save_model_folder
    from siamkit.models.network import SiameseNetwork
    from siamkit.data.preprocessing import Preprocessing

    network = SiameseNetwork.create(backbone, pretrained, embedding_dim=embedding_dim, hidden_dim=hidden_dim).eval()
    preprocessing = Preprocessing.from_timm_config(backbone_data_config(network.backbone), image_size)
    config = ModelConfig(backbone=backbone, preprocessing=preprocessing, embedding_dim=embedding_dim, hidden_dim=hidden_dim, threshold=1.0)
    return save_model_folder(folder, config, network.state_dict())


def build_gallery(model_folder: Path, folder: Path, count: int, size: int, seed: int) -> Path:
    from siamkit.inference.siamese_model import SiameseModel
    from siamkit.search import GalleryIndex, content_hash

    rng = np.random.default_rng(seed)
    paths, labels = [], []
    per_identity = 5
    for identity in range((count + per_identity - 1) // per_identity):
        base = None
        target = folder / "gallery" / f"id_{identity:03d}"
        target.mkdir(parents=True, exist_ok=True)
        for index in range(min(per_identity, count - len(paths))):
            image, base = pattern_image(rng, size, base)
            path = target / f"img_{index}.jpg"
            path.write_bytes(jpeg_bytes(image))
            paths.append(str(path))
            labels.append(target.name)
    model = SiameseModel.load(model_folder, backend="torch")
    index = GalleryIndex.build(model.embed(paths), paths, labels, [content_hash(p) for p in paths], model.model_id)
    index.save(folder / "gallery.index")
    return folder / "gallery.index"


def request_images(count: int, size: int, seed: int) -> list[bytes]:
    rng = np.random.default_rng(seed + 1)
    return [jpeg_bytes(pattern_image(rng, size)[0]) for _ in range(count)]


# ----------------------------------------------------------------------------- server


class Server:
    """``siamkit serve`` in a subprocess on a free port; stopped with Ctrl+C (SIGINT)."""

    def __init__(self, model: Path, index: Path, flags: list[str]):
        command = [sys.executable, "-m", "siamkit.cli.main", "serve", str(model), "--index", str(index),
                   "--port", "0", "--no-access-log", *flags]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                        env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [self.lines.put(line) for line in self.process.stderr], daemon=True).start()
        self.url = self._wait_for_url()

    def _wait_for_url(self) -> str:
        import httpx

        deadline = time.monotonic() + 300
        url = None
        while url is None:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("siamkit serve did not start:\n" + "".join(self.drain()))
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                continue
            match = re.search(r" at (http://127\.0\.0\.1:\d+) ", line)
            url = match.group(1) if match else None
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                    return url
            except httpx.TransportError:
                time.sleep(0.2)
        raise SystemExit("siamkit serve does not answer /healthz")

    def cpu_seconds(self) -> float:
        """CPU time the server process has used (all its threads): what a request really costs
        on a machine where other work competes for the cores."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def drain(self) -> list[str]:
        lines = []
        while not self.lines.empty():
            lines.append(self.lines.get())
        return lines

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# ----------------------------------------------------------------------------- load


async def load(url: str, endpoint: str, clients: int, seconds: float, images: list[bytes], k: int, seed: int, rate: float = 0.0) -> dict:
    import httpx

    latencies: list[float] = []
    errors: list[str] = []
    stop_at = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def one_request(client: httpx.AsyncClient, rng: random.Random) -> None:
        if endpoint == "compare":
            first, second = rng.sample(range(len(images)), 2)
            request = {"files": {"image_a": ("a.jpg", images[first], "image/jpeg"), "image_b": ("b.jpg", images[second], "image/jpeg")}}
        else:
            request = {"files": {"image": ("q.jpg", images[rng.randrange(len(images))], "image/jpeg")}, "data": {"k": str(k)}}
        started = time.perf_counter()
        try:
            response = await client.post(f"/v1/{endpoint}", **request)
            if response.status_code != 200:
                errors.append(f"{response.status_code} {response.text[:100]}")
        except httpx.HTTPError as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        latencies.append(time.perf_counter() - started)

    async def closed_loop_client(client: httpx.AsyncClient, number: int) -> None:
        rng = random.Random(seed * 1000 + number)
        while time.perf_counter() < stop_at:
            await one_request(client, rng)

    async def open_loop(client: httpx.AsyncClient) -> None:
        rng = random.Random(seed)
        in_flight: set[asyncio.Task] = set()
        due = time.perf_counter()
        while due < stop_at:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            task = asyncio.ensure_future(one_request(client, rng))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            due += 1.0 / rate
        await asyncio.gather(*in_flight)

    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        if rate > 0:
            await open_loop(client)
        else:
            await asyncio.gather(*(closed_loop_client(client, number) for number in range(clients)))
    elapsed = time.perf_counter() - started
    array = np.asarray(latencies) * 1000 if latencies else np.zeros(1)
    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "rps": len(latencies) / elapsed,
        "p50": float(np.percentile(array, 50)),
        "p99": float(np.percentile(array, 99)),
        "errors": len(errors),
        "first_error": errors[0] if errors else "",
    }


def batch_stats(url: str) -> dict:
    import httpx

    return httpx.get(f"{url}/v1/model", timeout=10).json()


def main() -> None:
    args = parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="siamkit-service-load-"))
    workdir.mkdir(parents=True, exist_ok=True)
    model = args.model
    if model is None:
        model = workdir / "model"
        if not (model / "config.json").is_file():
            print(f"building model folder {model} (tf_efficientnet_lite0, offline weights, 160 px)", flush=True)
            build_model_folder(model)
    index = args.index
    if index is None:
        index = workdir / "gallery.index"
        if not index.is_file():
            print(f"building a gallery index of {args.gallery} images in {workdir}", flush=True)
            build_gallery(model, workdir, args.gallery, args.request_size, args.seed)
    images = request_images(32, args.request_size, args.seed)
    mean_kb = sum(map(len, images)) / len(images) / 1024
    print(f"server: --backend {args.backend} --threads {args.threads} --max-batch {args.max_batch} "
          f"--batch-wait-ms {args.batch_wait_ms:g}", flush=True)
    how = f"open loop at {args.rate:g} req/s, at most {args.clients} in flight" if args.rate > 0 else f"{args.clients} clients, closed loop"
    print(f"requests: {args.request_size}x{args.request_size} JPEG (mean {mean_kb:.1f} KB); {how}; "
          f"{args.seconds:g} s measured after {args.warmup:g} s warm-up; {os.cpu_count()} CPUs visible", flush=True)

    rows = []
    for mode in args.modes.split(","):
        flags = ["--backend", args.backend, "--threads", str(args.threads), "--max-batch", str(args.max_batch), "--batch-wait-ms", str(args.batch_wait_ms)]
        flags += [] if mode == "batching" else ["--no-batching"]
        server = Server(model, index, flags)
        try:
            info = batch_stats(server.url)
            for endpoint in args.endpoints.split(","):
                if args.warmup > 0:
                    asyncio.run(load(server.url, endpoint, args.clients, args.warmup, images, args.k, args.seed, args.rate))
                before = batch_stats(server.url)["batching"]
                cpu_before, client_before = server.cpu_seconds(), time.process_time()
                result = asyncio.run(load(server.url, endpoint, args.clients, args.seconds, images, args.k, args.seed, args.rate))
                result["server_cpu_ms"] = 1000 * (server.cpu_seconds() - cpu_before) / max(1, result["requests"])
                result["client_cpu_ms"] = 1000 * (time.process_time() - client_before) / max(1, result["requests"])
                result["load"] = os.getloadavg()[0]
                after = batch_stats(server.url)["batching"]
                batches = after["batches"] - before["batches"]
                result["mean_batch"] = (after["images"] - before["images"]) / batches if batches else 0.0
                rows.append((mode, endpoint, info["backend"], result))
                print(f"{mode:<12} {endpoint:<8} {info['backend']:<6} {result['rps']:7.1f} req/s  "
                      f"p50 {result['p50']:6.1f} ms  p99 {result['p99']:6.1f} ms  errors {result['errors']}  "
                      f"requests {result['requests']}  mean batch {result['mean_batch']:.1f}  "
                      f"server CPU {result['server_cpu_ms']:.1f} ms/req  client CPU {result['client_cpu_ms']:.1f} ms/req  "
                      f"load average {result['load']:.1f}"
                      + (f"  first error: {result['first_error']}" if result["errors"] else ""), flush=True)
        finally:
            server.stop()

    print()
    print(f"{'mode':<12} {'endpoint':<8} {'backend':<7} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} "
          f"{'mean batch':>10} {'server CPU ms/req':>17} {'load avg':>8}")
    for mode, endpoint, backend, result in rows:
        print(f"{mode:<12} {endpoint:<8} {backend:<7} {result['rps']:7.1f} {result['p50']:7.1f} {result['p99']:7.1f} "
              f"{result['errors']:6d} {result['mean_batch']:10.1f} {result['server_cpu_ms']:17.1f} {result['load']:8.1f}")
    print("server CPU ms/req: CPU time of the server process per answered request; 2 idle cores give at most "
          "2000 / (that + client CPU) requests/s.")


if __name__ == "__main__":
    main()
