"""A taste of ``benchmarks/fuzz_service.py``: its request strategy, a few dozen requests, in this process.

The benchmark draws thousands of hostile requests a minute; this keeps its contract in the suite:
every request gets an answer below 500, and a refusal says why in a JSON ``detail``.
"""

from __future__ import annotations

import logging
import warnings

import pytest

pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402
from tests.conftest import load_benchmark  # noqa: E402

fuzz = load_benchmark("fuzz_service")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    logging.getLogger("python_multipart").setLevel(logging.ERROR)
    with TestClient(fuzz.build_app(tmp_path_factory.mktemp("fuzz-service"))) as client:
        yield client


@pytest.mark.slow
@settings(max_examples=30, deadline=None, database=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck))
@given(case=fuzz.hostile_requests())
def test_hostile_requests_are_answered_below_500(client, case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns about the corrupt metadata it skips
        response = fuzz.send(client, case)
    problem = fuzz.check_answer(case, response.status_code, response.headers.get("content-type", ""), response.content)
    assert problem is None, f"{problem}\n{case.reproducer()}"


def test_the_contract_catches_server_errors_and_bad_refusals():
    """The checker must fail what it exists to catch, or the fuzzer silently passes everything."""
    case = fuzz.Case("POST", "/v1/compare", [], b"", "/v1/compare")
    assert "server error 500" in fuzz.check_answer(case, 500, "application/json", b'{"detail": "boom"}')
    assert "without a JSON detail" in fuzz.check_answer(case, 400, "text/plain", b"Bad Request")
    assert "not one line" in fuzz.check_answer(case, 415, "application/json", b'{"detail": "one\\ntwo"}')
    assert fuzz.check_answer(case, 415, "application/json", b'{"detail": "image_a (x.jpg): not a recognised image format"}') is None
    impossible = b'{"distance": 3.5, "similarity": 0.5, "same": false, "threshold": 1.0}'
    assert "impossible" in fuzz.check_answer(case, 200, "application/json", impossible)


def test_multipart_bodies_carry_raw_names():
    parts = [fuzz.Part(b"image_a", b"\x00\x01", b"men\xfc.jpg", b"image/jpeg"), fuzz.Part(b"k", b"5", None, None)]
    body = fuzz.encode_multipart(parts, b"B")
    assert body.startswith(b'--B\r\nContent-Disposition: form-data; name="image_a"; filename="men\xfc.jpg"\r\n')
    assert b'name="k"\r\n\r\n5\r\n' in body and body.endswith(b"--B--\r\n")
