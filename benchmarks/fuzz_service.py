"""Fuzz the web service's endpoints with hostile HTTP requests, in this process.

Every request a client can send must end with an answer below 500: a result, or a 4xx whose
JSON ``detail`` says what was wrong (one line when it is a sentence). A 5xx, an exception that
escapes the app, or a malformed answer is a finding: the script prints a reproducer (method,
path, headers and body, also written to ``--out``) and exits with status 1.

Hypothesis draws whole requests against a tiny model (resnet10t, random weights, 32 px) and a
10-image gallery, served by :func:`siamkit.service.create_app` through Starlette's TestClient:
no socket, so thousands of requests a minute on two cores. It draws

* bodies: valid images, images mutated by ``fuzz_decode.py`` (truncated, bit-flipped, header
  sizes of 0 to 2^32 - 1: decompression-bomb headers), random bytes, text, empty files, files
  over the upload limit, up to 40 files in one request;
* forms: missing, repeated, misnamed and extra fields; file names that are empty, very long,
  not UTF-8, or carry quotes, NULs, line breaks or ``../``; part content types that lie;
* envelopes: wrong or missing Content-Type, no or a mismatched multipart boundary, LF line
  ends, truncated bodies, bytes inserted anywhere, lying Content-Length headers, odd methods;
* parameters: ``k`` of -1, 0, 10^9, 10^30, "ten", "1e3", "", full-width digits; gallery ids
  that are negative, huge, not digits, or path traversals.

The run is bounded by ``--seconds`` of wall time (TLS, sockets and slow clients are
``service_attack.py``'s business). ``tests/hostile/test_fuzz_service_smoke.py`` runs the same
strategy for a few dozen requests.

    .venv/bin/python benchmarks/fuzz_service.py                 # 60 s
    .venv/bin/python benchmarks/fuzz_service.py --seconds 600 --out fuzz-findings
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling benchmark modules

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import fuzz_decode  # noqa: E402  (mutated images and header edits)
import service_load  # noqa: E402  (model folder and gallery builders)

UPLOAD_MB = 0.25  # small, so oversized bodies cost a few hundred KB, not megabytes
UPLOAD_LIMIT = int(UPLOAD_MB * 2**20)
UPLOAD_FIELDS = {"/v1/compare": ("image_a", "image_b"), "/v1/embed": ("images",), "/v1/search": ("image",)}
BOGUS_K = ("-1", "0", "101", "1000000000", str(10**30), "ten", "1e3", "1.5", "", " 5", "NaN", "\uff15", "0x10", "-0")
BOGUS_IDS = (
    "-1", "999999", str(10**18), str(10**30), "abc", "1.0", "0x1", " 1", "1 ", "\u0661", "\uff11", "../../etc/passwd",
    "..%2F..%2Fetc%2Fpasswd", "%00", "\x00", "0" * 18 + "1", "1/2", "", "NaN", "\u00bd",
)
ODD_FILENAMES = (
    b"", b"a.jpg", b"../../etc/passwd", b"C:\\Windows\\a.jpg", b"men\xfc.jpg", b"\xff\xfe\xfd", b'quote".jpg',
    b"semi;colon.png", b"nul\x00.png", b"line\r\nbreak.jpg", b"\xe2\x80\xae.gpj", b"%2e%2e%2f.png", b"a" * 4000 + b".jpg",
)
CONTENT_TYPES = (
    None, b"image/jpeg", b"image/png", b"text/plain", b"application/octet-stream", b"image/svg+xml", b"\xff;;=",
    b"multipart/mixed; boundary=x",
)


# --- requests ----------------------------------------------------------------------------------


@dataclass
class Part:
    name: bytes
    content: bytes
    filename: bytes | None = b"upload.jpg"
    content_type: bytes | None = b"image/jpeg"


@dataclass
class Case:
    """One HTTP request, exactly as sent, and the words that say how it was made."""

    method: str
    path: str  # percent-encoded, with any query string
    headers: list[tuple[bytes, bytes]]
    body: bytes
    endpoint: str
    notes: list[str] = field(default_factory=list)

    def reproducer(self) -> str:
        lines = [
            "import httpx",
            'URL = "http://127.0.0.1:8000"  # a running siamkit serve MODEL --index INDEX --max-upload-mb 0.25',
            f"body = bytes.fromhex({self.body.hex()!r})" if len(self.body) <= 4096 else f"body = {len(self.body)} bytes (see the .bin file)",
            f"httpx.request({self.method!r}, URL + {self.path!r}, headers={self.headers!r}, content=body)",
        ]
        return "\n".join(lines)


def encode_multipart(parts: list[Part], boundary: bytes, newline: bytes = b"\r\n") -> bytes:
    """A multipart/form-data body from raw bytes: nothing is escaped, so odd names go out as drawn."""
    chunks = []
    for part in parts:
        disposition = b'form-data; name="' + part.name + b'"'
        if part.filename is not None:
            disposition += b'; filename="' + part.filename + b'"'
        chunks += [b"--", boundary, newline, b"Content-Disposition: ", disposition, newline]
        if part.content_type is not None:
            chunks += [b"Content-Type: ", part.content_type, newline]
        chunks += [newline, part.content, newline]
    chunks += [b"--", boundary, b"--", newline]
    return b"".join(chunks)


_SEEDS = [(fmt, data) for fmt, data in fuzz_decode.seed_images() if fmt in ("JPEG", "PNG")]
_VALID = [data for _, data in _SEEDS]


def _bomb_header(case) -> bytes:
    """A valid small image whose header claims a huge (or zero) width or height."""
    (fmt, data), which, value = case
    return fuzz_decode.apply_mutation(fmt, data, ("dimension", which, value))


# (kind, bytes) of one uploaded file. Valid images come up often enough that requests get
# past the form checks to decoding, embedding and search.
FILE_CONTENTS = st.one_of(
    st.sampled_from(_VALID).map(lambda data: ("valid", data)),
    st.sampled_from(_VALID).map(lambda data: ("valid", data)),
    fuzz_decode.mutated_images(max_mutations=3).map(lambda case: ("mutated", case[1])),
    st.tuples(st.sampled_from(_SEEDS), st.integers(0, 7), st.sampled_from((0, 1, 0xFFFF, 30_000, 0x7FFFFFFF, 0xFFFFFFFF)))
    .map(lambda case: ("bomb-header", _bomb_header(case))),
    st.binary(max_size=512).map(lambda data: ("random", data)),
    st.just(("empty", b"")),
    st.text(max_size=64).map(lambda text: ("text", text.encode("utf-8", "surrogatepass"))),
    # Over the per-image limit, by a little or by a lot (the body limit is a few files more).
    st.integers(1, 3 * UPLOAD_LIMIT).map(lambda extra: ("oversized", b"\xff\xd8\xff" + b"\0" * (UPLOAD_LIMIT + extra))),
)
FILENAMES = st.one_of(
    st.just(b"photo.jpg"), st.none(), st.sampled_from(ODD_FILENAMES), st.binary(max_size=40),
    st.integers(200, 20_000).map(lambda n: b"x" * n + b".png"),
)


def field_names(right: tuple[str, ...]):
    return st.one_of(
        st.sampled_from([name.encode() for name in right]),
        st.sampled_from((b"image", b"images", b"image_a", b"image_b", b"file", b"k", b"", b"image_a\x00", b"\xff")),
        st.binary(max_size=12),
    )


@st.composite
def upload_parts(draw, endpoint: str, notes: list[str]) -> list[Part]:
    right = UPLOAD_FIELDS[endpoint]
    parts = []
    shape = draw(st.sampled_from(("as-documented", "as-documented", "many-files", "missing-field", "free-for-all")))
    notes.append(shape)
    if shape in ("as-documented", "missing-field"):
        names = list(right) if shape == "as-documented" else list(right)[: len(right) - 1]
    elif shape == "many-files":
        names = [right[-1]] * draw(st.integers(2, 40))
    else:
        names = [name.decode("latin-1") for name in draw(st.lists(field_names(right), max_size=6))]
    for name in names:
        kind, content = draw(FILE_CONTENTS)
        notes.append(kind)
        parts.append(Part(name.encode("latin-1"), content, draw(FILENAMES), draw(st.sampled_from(CONTENT_TYPES))))
    if endpoint == "/v1/search" and draw(st.booleans()):
        k = draw(st.one_of(st.sampled_from(BOGUS_K), st.integers(-(2**70), 2**70).map(str), st.text(max_size=8)))
        parts.append(Part(b"k", k.encode("utf-8", "surrogatepass"), None, None))
    for _ in range(draw(st.integers(0, 2))):  # extra fields the endpoint does not take
        value = draw(st.one_of(st.binary(max_size=64), st.sampled_from(_VALID)))
        parts.append(Part(draw(field_names(right)), value, draw(st.one_of(st.none(), FILENAMES)), None))
    return draw(st.permutations(parts)) if draw(st.booleans()) else parts


@st.composite
def envelope(draw, parts: list[Part], notes: list[str]) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Headers and body around the parts: mostly well-formed multipart, sometimes not at all."""
    boundary = draw(st.sampled_from((b"siamkit-fuzz-boundary", b"x", b"-" * 70, b"a b", b"\xe9t\xe9")))
    newline = draw(st.sampled_from((b"\r\n",) * 9 + (b"\n",)))
    body = encode_multipart(parts, boundary, newline)
    kind = draw(st.sampled_from(
        ("multipart",) * 6 + ("no-boundary", "wrong-boundary", "urlencoded", "json", "raw-image", "no-content-type", "garbage-type")
    ))
    notes.append(kind)
    content_type: bytes | None = b"multipart/form-data; boundary=" + boundary
    if kind == "no-boundary":
        content_type = b"multipart/form-data"
    elif kind == "wrong-boundary":
        content_type = b"multipart/form-data; boundary=other"
    elif kind == "urlencoded":
        content_type = b"application/x-www-form-urlencoded"
        body = b"&".join(quote(part.name).encode() + b"=" + quote(part.content[:256]).encode() for part in parts)
    elif kind == "json":
        content_type = b"application/json"
        body = json.dumps({part.name.decode("latin-1"): part.content[:64].hex() for part in parts}).encode()
    elif kind == "raw-image":
        content_type = b"image/jpeg"
        body = parts[0].content if parts else b""
    elif kind == "no-content-type":
        content_type = None
    elif kind == "garbage-type":
        content_type = draw(st.binary(max_size=40).filter(lambda value: b"\r" not in value and b"\n" not in value))
    damage = draw(st.sampled_from(("none",) * 6 + ("truncate", "insert", "drop-end")))
    if damage != "none" and body:
        notes.append(damage)
        at = draw(st.integers(0, len(body)))
        if damage == "truncate":
            body = body[:at]
        elif damage == "insert":
            body = body[:at] + draw(st.binary(min_size=1, max_size=32)) + body[at:]
        else:
            body = body[: body.rfind(b"--" + boundary + b"--")]
    headers = [] if content_type is None else [(b"content-type", content_type)]
    lie = draw(st.sampled_from((None,) * 8 + (b"0", b"-1", b"abc", b"99999999999999999999", b"1")))
    if lie is not None:
        notes.append("lying-content-length")
        headers.append((b"content-length", lie))
    return headers, body


@st.composite
def hostile_requests(draw) -> Case:
    """One request to an upload endpoint, the gallery, or somewhere else."""
    target = draw(st.sampled_from(("/v1/compare",) * 3 + ("/v1/embed",) * 2 + ("/v1/search",) * 3 + ("gallery",) * 2 + ("other",)))
    notes: list[str] = []
    if target == "gallery":
        item = draw(st.one_of(st.sampled_from(BOGUS_IDS), st.integers(-(2**70), 2**70).map(str), st.text(max_size=20)))
        path = "/v1/gallery/" + quote(item, safe=draw(st.sampled_from(("", "/", "/%"))))
        method = draw(st.sampled_from(("GET",) * 6 + ("HEAD", "POST", "DELETE")))
        return Case(method, path, [], b"", "gallery", ["bogus-id"])
    if target == "other":
        path = draw(st.sampled_from(("/", "/healthz", "/v1/model", "/v1/compare/", "/v1//compare", "/V1/compare",
                                      "/v1/gallery/", "/static/../v1/compare", "/static/%2e%2e/app.py", "/docs", "/nope")))
        method = draw(st.sampled_from(("GET", "POST", "PUT", "OPTIONS")))
        headers, body = draw(envelope(draw(upload_parts("/v1/compare", notes)), notes))
        return Case(method, path, headers, body, "other", notes)
    parts = draw(upload_parts(target, notes))
    headers, body = draw(envelope(parts, notes))
    path = target
    query = draw(st.sampled_from((None,) * 4 + BOGUS_K))  # k belongs in the form; a query string must not confuse anything
    if query is not None:
        path += "?k=" + quote(query, safe="")
    method = draw(st.sampled_from(("POST",) * 28 + ("GET", "PUT", "PATCH", "DELETE")))
    return Case(method, path, headers, body, target, notes)


# --- the contract -------------------------------------------------------------------------------


def check_answer(case: Case, status: int, content_type: str, body: bytes) -> str | None:
    """None if the answer keeps the contract, else what is wrong with it."""
    if status >= 500:
        return f"server error {status}: {body[:300]!r}"
    if 400 <= status < 500 and case.method != "HEAD":
        try:
            detail = json.loads(body)["detail"] if content_type.startswith("application/json") else None
        except (ValueError, KeyError, TypeError):
            detail = None
        if detail is None:
            return f"{status} without a JSON detail: {body[:300]!r}"
        if isinstance(detail, str) and (not detail.strip() or "\n" in detail):
            return f"{status} whose detail is not one line: {detail[:300]!r}"
    if status == 200 and case.endpoint in UPLOAD_FIELDS and case.method == "POST":
        return _check_result(case.endpoint, json.loads(body))
    return None


def _check_result(endpoint: str, result: dict) -> str | None:
    if endpoint == "/v1/compare":
        ok = 0.0 <= result["distance"] <= 2.0 + 1e-5 and 0.0 <= result["similarity"] <= 1.0 + 1e-6
    elif endpoint == "/v1/embed":
        rows = result["embeddings"]
        ok = 1 <= len(rows) and all(abs(math.hypot(*row) - 1.0) < 1e-3 for row in rows)
    else:
        ok = 1 <= len(result["hits"]) and all(math.isfinite(hit["distance"]) for hit in result["hits"])
    return None if ok else f"200 with an impossible result: {str(result)[:300]}"


def send(client, case: Case):
    """The request through the app; an exception that escapes the app is raised here."""
    return client.request(case.method, case.path, headers=case.headers, content=case.body)


# --- the service under test ---------------------------------------------------------------------


def build_app(workdir: Path, backend: str = "torch"):
    """The service over a tiny random-weight model and a 10-image gallery, built in ``workdir``."""
    from siamkit.inference.siamese_model import SiameseModel
    from siamkit.search import GalleryIndex
    from siamkit.service import ServiceSettings, create_app

    model_folder = workdir / "model"
    if not (model_folder / "config.json").is_file():
        service_load.build_model_folder(model_folder, "resnet10t", "none", image_size=32, embedding_dim=16, hidden_dim=32)
    index_file = workdir / "gallery.index"
    if not index_file.is_file():
        service_load.build_gallery(model_folder, workdir, 10, 32, seed=0)
    model = SiameseModel.load(model_folder, backend=backend)
    settings = ServiceSettings(max_upload_mb=UPLOAD_MB, batch_wait_ms=1)
    return create_app(model, GalleryIndex.load(index_file), settings)


# --- the run ------------------------------------------------------------------------------------


@dataclass
class Tally:
    statuses: Counter = field(default_factory=Counter)
    by_endpoint: Counter = field(default_factory=Counter)
    kinds: Counter = field(default_factory=Counter)
    slowest: tuple = (0.0, "")
    finding: tuple | None = None  # (case, what went wrong)


class Finding(AssertionError):
    pass


def run_case(client, case: Case, tally: Tally) -> None:
    started = time.perf_counter()
    try:
        response = send(client, case)
    except Exception:  # noqa: BLE001 - an exception out of the app is what we are looking for
        problem = "unhandled exception:\n" + traceback.format_exc()
    else:
        problem = check_answer(case, response.status_code, response.headers.get("content-type", ""), response.content)
        tally.statuses[response.status_code] += 1
        tally.by_endpoint[(case.endpoint, response.status_code)] += 1
    took = time.perf_counter() - started
    tally.kinds.update(case.notes)
    if took > tally.slowest[0]:
        tally.slowest = (took, f"{case.method} {case.path[:60]} ({len(case.body)} bytes, {', '.join(case.notes)})")
    if problem is not None:
        tally.finding = (case, problem)  # hypothesis replays the shrunk case last
        raise Finding(problem)


def fuzz(client, seconds: float, batch: int = 100) -> Tally:
    tally = Tally()
    stop_at = time.monotonic() + seconds

    @settings(max_examples=batch, deadline=None, database=None, phases=[Phase.generate, Phase.shrink],
              suppress_health_check=list(HealthCheck))
    @given(hostile_requests())
    def one_batch(case: Case) -> None:
        if time.monotonic() < stop_at or tally.finding is not None:  # shrinking goes on past the clock
            run_case(client, case, tally)

    while time.monotonic() < stop_at and tally.finding is None:
        try:
            one_batch()
        except Exception:  # the Finding, or hypothesis' group of several
            if tally.finding is None:
                raise
    return tally


def report(tally: Tally, elapsed: float, out: Path) -> int:
    total = sum(tally.statuses.values())
    print(f"{total} requests in {elapsed:.0f} s ({total / max(elapsed, 1e-9):.0f}/s)")
    print("status codes: " + ", ".join(f"{code} {count}" for code, count in sorted(tally.statuses.items())))
    endpoints = sorted({endpoint for endpoint, _ in tally.by_endpoint})
    for endpoint in endpoints:
        codes = {code: count for (name, code), count in tally.by_endpoint.items() if name == endpoint}
        print(f"  {endpoint:<12} " + ", ".join(f"{code} {count}" for code, count in sorted(codes.items())))
    print("drawn: " + ", ".join(f"{kind} {count}" for kind, count in tally.kinds.most_common()))
    print(f"slowest request: {tally.slowest[0]:.3f} s: {tally.slowest[1]}")
    if tally.finding is None:
        print("no findings: every request was answered below 500, errors with a one-line JSON detail")
        return 0
    case, problem = tally.finding
    out.mkdir(parents=True, exist_ok=True)
    (out / "service-finding.bin").write_bytes(case.body)
    print(f"FINDING: {problem}")
    print(f"request ({', '.join(case.notes)}): {case.method} {case.path}, {len(case.body)}-byte body in {out / 'service-finding.bin'}")
    print(case.reproducer())
    return 1


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="wall-time budget (default 60)")
    parser.add_argument("--workdir", type=Path, help="where to build the tiny model and gallery (default: a temporary folder)")
    parser.add_argument("--backend", default="torch", help="model backend: torch (default, quick to load), onnx or auto")
    parser.add_argument("--out", type=Path, default=Path("fuzz-findings"), help="folder for the body of a finding")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    from starlette.testclient import TestClient

    args = parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="siamkit-fuzz-service-"))
    app = build_app(workdir, args.backend)
    warnings.simplefilter("ignore")  # Pillow's notes on corrupt metadata are expected here
    logging.getLogger("python_multipart").setLevel(logging.ERROR)  # and the parser's on broken forms
    with TestClient(app, raise_server_exceptions=True) as client:
        started = time.perf_counter()
        tally = fuzz(client, args.seconds)
        elapsed = time.perf_counter() - started
        alive = client.get("/healthz").status_code == 200
    code = report(tally, elapsed, args.out)
    if not alive:
        print("FINDING: the service stopped answering /healthz")
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
