"""Does ``siamkit serve`` keep answering valid requests while other clients attack it?

Starts ``siamkit serve`` in a subprocess (``service_load.Server``), measures valid compare and
search requests alone for ``--baseline-seconds``, then for ``--seconds`` runs three kinds of
clients at once:

* valid: closed-loop ``/v1/compare`` and ``/v1/search`` with generated JPEGs;
* hostile: uploads over the size limit (declared, and chunked with no length), bodies that are
  not images (text, random bytes, empty, truncated JPEG, a PNG header claiming 30000x30000
  pixels), bogus gallery ids, and malformed multipart forms, as fast as they are answered;
* slow: raw sockets that trickle a request body at 100 bytes/s, stop half-way through a body,
  trickle the request head one byte a second, or connect and send nothing (slowloris);
* pixel flood: valid searches with a 10 KB PNG of 9400x9400 pixels (just under the decoder's
  limit), each seconds of CPU and hundreds of MB to decode.

It counts server errors (any 5xx; a reset, a dropped connection or no answer within 30 s for a
valid or hostile request; an exception in the server's log), samples the server's resident
memory and open file descriptors twice a second, and checks at the end that ``/healthz`` and a
valid compare still answer. Exit status 1 on any server error, if the service stops answering,
or if memory keeps growing (the median of the run's second half is over the first half's by
more than ``--growth-mb``). Slow connections that the server closes or answers 408 are its
defence working; connections still open at the end show how long it lets them hang.

Without ``--model`` it builds the model folder and gallery ``service_load.py`` measures
(``--tiny``: resnet10t with random weights at 32 px, seconds to build). From the repository root:

    .venv/bin/python benchmarks/service_attack.py --seconds 60
    .venv/bin/python benchmarks/service_attack.py --tiny --seconds 20 --baseline-seconds 0
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling benchmark modules

import service_load  # noqa: E402  (server subprocess, model and gallery builders, request images)

VALID = ("compare", "search")
HOSTILE = ("oversized", "oversized-chunked", "not-an-image", "bogus-gallery-id", "malformed-multipart")
SLOW = ("slow-body", "stalled-body", "slow-head", "idle")
PIXEL_FLOOD = "pixel-flood"
ANSWER_TIMEOUT_S = 30.0  # a valid or hostile request not answered within this is a server error
SLOW_BODY_RATE = 100  # bytes a second: a client on a line no phone has, or an attacker
BOGUS_IDS = ("999999", "-1", "abc", "1.0", "0x1", "%2Fetc%2Fpasswd", "..%2F..%2Fetc%2Fpasswd", "99999999999999999999999", "%00", "%E2%80%AE")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="model folder to serve (default: build one)")
    parser.add_argument("--index", type=Path, help="gallery index built with --model (default: build one)")
    parser.add_argument("--workdir", type=Path, help="where to build the model and gallery (default: a temporary folder)")
    parser.add_argument("--tiny", action="store_true", help="build resnet10t, random weights, 32 px (fast to build and run)")
    parser.add_argument("--gallery", type=int, default=200, help="generated gallery images when building")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the attack")
    parser.add_argument("--baseline-seconds", type=float, default=10.0, help="valid requests alone first, for comparison (0: skip)")
    parser.add_argument("--valid-clients", type=int, default=4, help="closed-loop valid clients (half compare, half search)")
    parser.add_argument("--hostile-clients", type=int, default=4, help="closed-loop hostile clients")
    parser.add_argument("--slow-clients", type=int, default=40, help="slow connections held at once (a quarter of each kind)")
    parser.add_argument("--pixel-clients", type=int, default=2, help="closed-loop clients searching with 88-megapixel PNGs")
    parser.add_argument("--max-upload-mb", type=float, default=1.0, help="siamkit serve --max-upload-mb (oversized uploads go over it)")
    parser.add_argument("--request-size", type=int, default=224, help="side of the valid JPEGs in pixels")
    parser.add_argument("--growth-mb", type=float, default=50.0, help="second-half RSS median over the first half's that counts as growth")
    parser.add_argument("--backend", default="auto", help="siamkit serve --backend")
    parser.add_argument("--threads", type=int, default=1, help="siamkit serve --threads")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


# ----------------------------------------------------------------------------- bodies


def encoded_form(files: dict, data: dict | None = None) -> tuple[str, bytes]:
    """(Content-Type, body) of a multipart form, as httpx would send it."""
    import httpx

    request = httpx.Request("POST", "http://x/", files=files, data=data)
    return request.headers["content-type"], request.read()


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height pixels (a decompression bomb's first bytes)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 4096)) + chunk(b"IEND", b"")


def one_bit_png(width: int, height: int) -> bytes:
    """A valid image of width x height pixels that compresses to a few KB."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("1", (width, height), 1).save(buffer, "PNG")
    return buffer.getvalue()


@dataclass
class Bodies:
    """Everything the clients send, built once so the clients spend their CPU on sending."""

    images: list[bytes]
    limit: int
    not_images: list[bytes] = field(default_factory=list)
    malformed: list[tuple[str, bytes]] = field(default_factory=list)
    oversized: bytes = b""
    many_pixels: bytes = b""

    @classmethod
    def build(cls, images: list[bytes], limit: int, rng: random.Random) -> "Bodies":
        bodies = cls(images, limit)
        bodies.not_images = [
            b"I am a text file, not a picture\n" * 20, rng.randbytes(4096), b"", images[0][: len(images[0]) // 2],
            png_claiming(30_000, 30_000),
        ]
        bodies.oversized = b"\xff\xd8\xff\xe0" + rng.randbytes(limit + 1024)
        bodies.many_pixels = one_bit_png(9400, 9400)
        content_type, good = encoded_form({"image_a": ("a.jpg", images[0], "image/jpeg"), "image_b": ("b.jpg", images[1], "image/jpeg")})
        boundary = content_type.split("boundary=", 1)[1]
        bodies.malformed = [
            (content_type, good[: good.rfind(b"--" + boundary.encode() + b"--")]),  # no closing boundary
            (content_type, good[: len(good) // 2]),  # cut mid-part
            ("multipart/form-data; boundary=somethingelse", good),
            ("multipart/form-data", good),  # no boundary at all
            (content_type, good.replace(b'name="image_a"; ', b"")),  # a part with no name
            (content_type, rng.randbytes(2048)),
            ("application/x-www-form-urlencoded", b"image_a=%FF%D8&image_b=" + b"A" * 1000),
            ("application/json", b'{"image_a": "not this way", "image_b": null}'),
        ]
        return bodies

    def valid_compare(self, rng: random.Random) -> dict:
        first, second = rng.sample(range(len(self.images)), 2)
        return {"files": {"image_a": ("a.jpg", self.images[first], "image/jpeg"), "image_b": ("b.jpg", self.images[second], "image/jpeg")}}

    def valid_search(self, rng: random.Random) -> dict:
        return {"files": {"image": ("q.jpg", rng.choice(self.images), "image/jpeg")}, "data": {"k": "10"}}


# ----------------------------------------------------------------------------- records


@dataclass
class Tally:
    outcomes: defaultdict = field(default_factory=lambda: defaultdict(Counter))  # kind -> outcome -> count
    latencies: defaultdict = field(default_factory=lambda: defaultdict(list))  # kind -> seconds
    server_errors: list = field(default_factory=list)

    def record(self, kind: str, outcome: str, seconds: float, error: bool = False, detail: str = "") -> None:
        self.outcomes[kind][outcome] += 1
        self.latencies[kind].append(seconds)
        if error:
            self.server_errors.append(f"{kind}: {outcome} {detail}".strip())


# ----------------------------------------------------------------------------- valid and hostile clients


async def http_client_loop(client, kind_of, bodies: Bodies, tally: Tally, stop_at: float, rng: random.Random) -> None:
    """One closed-loop client: a request of kind ``kind_of(rng)``, then the next as soon as it is answered."""
    import httpx

    while time.monotonic() < stop_at:
        kind = kind_of(rng)
        started = time.perf_counter()
        try:
            response = await send_one(client, kind, bodies, rng)
        except httpx.HTTPError as exc:  # reset, dropped connection or no answer: the server's fault here
            tally.record(kind, type(exc).__name__, time.perf_counter() - started, error=True, detail=str(exc)[:120])
            continue
        status = response.status_code
        tally.record(kind, str(status), time.perf_counter() - started, error=status >= 500, detail=response.text[:120])


async def send_one(client, kind: str, bodies: Bodies, rng: random.Random):
    if kind == "compare":
        return await client.post("/v1/compare", **bodies.valid_compare(rng))
    if kind == "search":
        return await client.post("/v1/search", **bodies.valid_search(rng))
    if kind == "oversized":
        endpoint, field_name = rng.choice((("/v1/compare", "image_a"), ("/v1/search", "image"), ("/v1/embed", "images")))
        files = {field_name: ("big.jpg", bodies.oversized, "image/jpeg")}
        if endpoint == "/v1/compare":
            files["image_b"] = ("b.jpg", bodies.images[0], "image/jpeg")
        return await client.post(endpoint, files=files)
    if kind == "oversized-chunked":
        content_type, body = encoded_form({"image": ("big.jpg", bodies.oversized * 3, "image/jpeg")})

        async def chunks():  # no Content-Length: the server must count while it reads
            for start in range(0, len(body), 65536):
                yield body[start : start + 65536]

        return await client.post("/v1/search", content=chunks(), headers={"content-type": content_type})
    if kind == "not-an-image":
        junk = rng.choice(bodies.not_images)
        return await client.post("/v1/compare", files={"image_a": ("a.jpg", bodies.images[0], "image/jpeg"), "image_b": ("x.jpg", junk, "image/jpeg")})
    if kind == PIXEL_FLOOD:
        return await client.post("/v1/search", files={"image": ("huge.png", bodies.many_pixels, "image/png")})
    if kind == "bogus-gallery-id":
        return await client.get(f"/v1/gallery/{rng.choice(BOGUS_IDS)}")
    if kind == "malformed-multipart":
        content_type, body = rng.choice(bodies.malformed)
        return await client.post(rng.choice(("/v1/compare", "/v1/search", "/v1/embed")), content=body, headers={"content-type": content_type})
    raise ValueError(kind)


# ----------------------------------------------------------------------------- slow clients (raw sockets)


async def slow_client_loop(kind: str, host: str, port: int, bodies: Bodies, tally: Tally, stop_at: float, held: list) -> None:
    """Open a connection, be slow in way ``kind`` until the server answers or closes, repeat."""
    content_type, body = encoded_form({"image_a": ("a.jpg", bodies.images[0], "image/jpeg"), "image_b": ("b.jpg", bodies.images[1], "image/jpeg")})
    head = (f"POST /v1/compare HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    while time.monotonic() < stop_at:
        started = time.monotonic()
        outcome = await one_slow_connection(kind, host, port, head, body, stop_at)
        seconds = time.monotonic() - started
        if outcome == "open-at-end":
            held.append(seconds)
        tally.record(kind, outcome, seconds, error=outcome.startswith("5"))


async def one_slow_connection(kind: str, host: str, port: int, head: bytes, body: bytes, stop_at: float) -> str:
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as exc:
        return f"connect failed ({exc.strerror or exc})"

    async def be_slow() -> None:
        if kind == "slow-head":
            for byte in range(len(head)):
                writer.write(head[byte : byte + 1])
                await writer.drain()
                await asyncio.sleep(1.0)
            writer.write(body)
        elif kind == "idle":
            pass
        else:
            writer.write(head)
            if kind == "stalled-body":
                writer.write(body[: len(body) // 2])
            else:
                chunk = SLOW_BODY_RATE // 4
                for start in range(0, len(body), chunk):
                    writer.write(body[start : start + chunk])
                    await writer.drain()
                    await asyncio.sleep(0.25)
        await writer.drain()
        await asyncio.sleep(3600)  # then wait for the server to answer or hang up

    writing = asyncio.ensure_future(be_slow())
    reading = asyncio.ensure_future(reader.read())  # to EOF: the request says Connection: close
    try:
        done, _ = await asyncio.wait({writing, reading}, timeout=max(0.0, stop_at - time.monotonic()), return_when=asyncio.FIRST_COMPLETED)
        if reading not in done and writing in done:  # writing failed: the server hung up; read what it said
            done, _ = await asyncio.wait({reading}, timeout=5)
        if reading not in done:
            return "open-at-end"
        try:
            answer = reading.result()
        except (ConnectionError, OSError):
            return "reset"
        return answer.split(b" ", 2)[1].decode("ascii", "replace") if answer.startswith(b"HTTP/") else "closed, no answer"
    finally:
        for task in (writing, reading):
            task.cancel()
        await asyncio.gather(writing, reading, return_exceptions=True)
        writer.close()


# ----------------------------------------------------------------------------- the server's memory


class MemorySampler:
    """Resident memory (MB) and open file descriptors of one process, sampled on a timer."""

    def __init__(self, pid: int):
        self.pid = pid
        self.samples: list[tuple[float, float, int]] = []  # (seconds since start, MB, fds)
        try:
            import psutil

            self._process = psutil.Process(pid)
        except ImportError:
            self._process = None

    def rss_mb(self) -> float:
        if self._process is not None:
            return self._process.memory_info().rss / 2**20
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS in /proc/PID/status")

    def fds(self) -> int:
        try:
            return len(os.listdir(f"/proc/{self.pid}/fd"))
        except OSError:
            return -1

    async def run(self, stop_at: float, every: float = 0.5) -> None:
        started = time.monotonic()
        while time.monotonic() < stop_at:
            self.samples.append((time.monotonic() - started, self.rss_mb(), self.fds()))
            await asyncio.sleep(every)
        self.samples.append((time.monotonic() - started, self.rss_mb(), self.fds()))

    def summary(self, growth_mb: float) -> tuple[str, bool]:
        rss = np.array([mb for _, mb, _ in self.samples])
        fds = [count for _, _, count in self.samples]
        half = len(rss) // 2
        first, second = float(np.median(rss[:half])), float(np.median(rss[half:]))
        grew = second - first > growth_mb
        text = (f"server RSS MB: start {rss[0]:.0f}, peak {rss.max():.0f}, end {rss[-1]:.0f}; median first half {first:.0f}, "
                f"second half {second:.0f} ({second - first:+.0f}): {'GROWING' if grew else 'bounded'}\n"
                f"server open file descriptors: start {fds[0]}, peak {max(fds)}, end {fds[-1]}")
        return text, grew


# ----------------------------------------------------------------------------- the run


async def attack(url: str, bodies: Bodies, args: argparse.Namespace, seconds: float, hostile: bool, sampler: MemorySampler | None) -> tuple[Tally, list]:
    import httpx

    host, port = url.removeprefix("http://").rsplit(":", 1)
    tally, held = Tally(), []
    stop_at = time.monotonic() + seconds
    rng = random.Random(args.seed)
    tasks = []
    valid_limits = httpx.Limits(max_connections=args.valid_clients, max_keepalive_connections=args.valid_clients)
    attackers = max(1, args.hostile_clients + args.pixel_clients)
    hostile_limits = httpx.Limits(max_connections=attackers, max_keepalive_connections=attackers)
    async with httpx.AsyncClient(base_url=url, timeout=ANSWER_TIMEOUT_S, limits=valid_limits) as valid, \
            httpx.AsyncClient(base_url=url, timeout=ANSWER_TIMEOUT_S, limits=hostile_limits) as attacker:
        for number in range(args.valid_clients):
            kind = VALID[number % 2]
            tasks.append(http_client_loop(valid, lambda _rng, kind=kind: kind, bodies, tally, stop_at, random.Random(rng.random())))
        if hostile:
            for _ in range(args.hostile_clients):
                tasks.append(http_client_loop(attacker, lambda r: r.choice(HOSTILE), bodies, tally, stop_at, random.Random(rng.random())))
            for _ in range(args.pixel_clients):
                tasks.append(http_client_loop(attacker, lambda _rng: PIXEL_FLOOD, bodies, tally, stop_at, random.Random(rng.random())))
            for number in range(args.slow_clients):
                tasks.append(slow_client_loop(SLOW[number % len(SLOW)], host, int(port), bodies, tally, stop_at, held))
        if sampler is not None:
            tasks.append(sampler.run(stop_at))
        await asyncio.gather(*tasks)
    return tally, held


def still_answers(url: str, bodies: Bodies) -> tuple[bool, str]:
    import httpx

    try:
        with httpx.Client(base_url=url, timeout=ANSWER_TIMEOUT_S) as client:
            health = client.get("/healthz")
            started = time.perf_counter()
            compare = client.post("/v1/compare", **bodies.valid_compare(random.Random(1)))
            took = (time.perf_counter() - started) * 1000
    except httpx.HTTPError as exc:
        return False, f"no answer: {type(exc).__name__}: {exc}"
    ok = health.status_code == 200 and compare.status_code == 200 and "distance" in compare.json()
    return ok, f"/healthz {health.status_code}, valid compare {compare.status_code} in {took:.0f} ms"


def print_table(title: str, tally: Tally, seconds: float) -> None:
    print(f"\n{title}")
    print(f"  {'kind':<20} {'requests':>8} {'req/s':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  outcomes")
    for kind in VALID + HOSTILE + (PIXEL_FLOOD,) + SLOW:
        if kind not in tally.outcomes:
            continue
        times = np.asarray(tally.latencies[kind]) * 1000
        count = sum(tally.outcomes[kind].values())
        outcomes = ", ".join(f"{name} {n}" for name, n in tally.outcomes[kind].most_common())
        print(f"  {kind:<20} {count:8d} {count / seconds:6.1f} {np.percentile(times, 50):8.0f} {np.percentile(times, 99):8.0f} "
              f"{times.max():8.0f}  {outcomes}")


def main() -> int:
    args = parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="siamkit-service-attack-"))
    workdir.mkdir(parents=True, exist_ok=True)
    model, index = args.model, args.index
    size = 32 if args.tiny and args.model is None else args.request_size
    if model is None:
        model = workdir / "model"
        if not (model / "config.json").is_file():
            print(f"building model folder {model}", flush=True)
            if args.tiny:
                service_load.build_model_folder(model, "resnet10t", "none", image_size=32, embedding_dim=16, hidden_dim=32)
            else:
                service_load.build_model_folder(model)
    if index is None:
        index = workdir / "gallery.index"
        if not index.is_file():
            print(f"building a gallery index of {args.gallery} images in {workdir}", flush=True)
            service_load.build_gallery(model, workdir, args.gallery, size, args.seed)
    bodies = Bodies.build(service_load.request_images(16, args.request_size, args.seed), int(args.max_upload_mb * 2**20), random.Random(args.seed))

    flags = ["--backend", args.backend, "--threads", str(args.threads), "--max-upload-mb", str(args.max_upload_mb)]
    server = service_load.Server(model, index, flags)
    print(f"serving {model} at {server.url} (pid {server.process.pid}); {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f} before the run", flush=True)
    try:
        if args.baseline_seconds > 0:
            baseline, _ = asyncio.run(attack(server.url, bodies, args, args.baseline_seconds, hostile=False, sampler=None))
            print_table(f"baseline: {args.valid_clients} valid clients alone for {args.baseline_seconds:g} s", baseline, args.baseline_seconds)
        sampler = MemorySampler(server.process.pid)
        load_before = os.getloadavg()[0]
        started = time.monotonic()
        tally, held = asyncio.run(attack(server.url, bodies, args, args.seconds, hostile=True, sampler=sampler))
        elapsed = time.monotonic() - started
        load_after = os.getloadavg()[0]
        alive, how = still_answers(server.url, bodies)
        log_errors = [line.rstrip() for line in server.drain() if "Traceback" in line or "ERROR" in line or "Exception" in line]
    finally:
        server.stop()

    print_table(f"under attack: {args.valid_clients} valid, {args.hostile_clients} hostile, {args.slow_clients} slow, "
                f"{args.pixel_clients} pixel-flood clients "
                f"for {elapsed:.0f} s (load average {load_before:.1f} before, {load_after:.1f} after)", tally, elapsed)
    memory, grew = sampler.summary(args.growth_mb)
    print(memory)
    if held:
        print(f"slow connections still open at the end: {len(held)}, held for up to {max(held):.0f} s")
    errors = tally.server_errors + [f"server log: {line}" for line in log_errors]
    print(f"server errors: {len(errors)}" + "".join(f"\n  {error}" for error in errors[:10]))
    print(f"after the attack: {how}")
    if errors or not alive or grew:
        print("FAILED: " + ", ".join(reason for reason, bad in (("server errors", errors), ("service stopped answering", not alive),
                                                                 ("memory kept growing", grew)) if bad))
        return 1
    print("PASSED: no server errors, the service still answers, memory bounded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
