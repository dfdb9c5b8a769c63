"""Slow and stalled clients are cut off; prompt ones never notice.

The server here gives a body 1 s (plus 1 s per 500 bytes) and a request head 1 s, so each case
takes a second or two; ``siamkit serve`` uses 20 s for both.
"""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

from siamkit.errors import SiamkitError
from siamkit.service import ServiceSettings, create_app
from siamkit.service.deadlines import HeadDeadlineProtocol
from tests.service.conftest import LiveServer

DEADLINE_S = 1.0


class QuickHeadDeadline(HeadDeadlineProtocol):
    head_timeout_s = DEADLINE_S


@pytest.fixture(scope="module")
def impatient(gallery):
    settings = ServiceSettings(body_timeout_s=DEADLINE_S)
    with LiveServer(create_app(gallery.model, None, settings), http=QuickHeadDeadline) as server:
        yield server


@pytest.fixture(scope="module")
def compare_form(gallery) -> tuple[str, bytes]:
    files = {"image_a": ("a.png", open(gallery.paths[0], "rb").read()), "image_b": ("b.png", open(gallery.paths[1], "rb").read())}
    request = httpx.Request("POST", "http://x/v1/compare", files=files)
    return request.headers["content-type"], request.read()


def connect(server: LiveServer) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=15)
    return sock


def compare_head(content_type: str, length: int) -> bytes:
    return (f"POST /v1/compare HTTP/1.1\r\nHost: test\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (the socket timeout fails the test)."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def status_and_body(answer: bytes) -> tuple[int, dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(body)


def test_a_stalled_body_gets_408_and_the_connection_is_closed(impatient, compare_form):
    content_type, body = compare_form
    with connect(impatient) as sock:
        started = time.monotonic()
        sock.sendall(compare_head(content_type, len(body)) + body[:200])
        answer = read_until_closed(sock)
        took = time.monotonic() - started
    status, detail = status_and_body(answer)
    assert status == 408 and "request body too slow: 200 bytes" in detail["detail"]
    assert b"connection: close" in answer.lower()
    assert DEADLINE_S <= took < DEADLINE_S + 200 / 500 + 2


def test_a_pause_longer_than_the_timeout_is_not_excused_by_bytes_sent_before(impatient, compare_form):
    """5000 bytes earn 10 s more for the whole body, not a 10 s pause."""
    content_type, body = compare_form
    assert len(body) > 5000
    with connect(impatient) as sock:
        started = time.monotonic()
        sock.sendall(compare_head(content_type, len(body)) + body[:5000])
        answer = read_until_closed(sock)
        took = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408")
    assert DEADLINE_S <= took < DEADLINE_S + 2


def test_a_body_trickled_below_the_minimum_rate_gets_408(impatient, compare_form):
    content_type, body = compare_form
    with connect(impatient) as sock:
        sock.sendall(compare_head(content_type, len(body)))
        answer = b""
        try:
            for start in range(0, len(body), 20):  # 200 bytes a second
                sock.sendall(body[start : start + 20])
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408")


@pytest.mark.parametrize("sent", [b"", b"POST /v1/compare HTTP/1.1\r\nHost: te"], ids=["nothing", "half-a-head"])
def test_a_connection_without_a_whole_request_head_is_closed(impatient, sent):
    started = time.monotonic()  # before connecting: the server's clock starts when it accepts
    with connect(impatient) as sock:
        sock.sendall(sent)
        assert read_until_closed(sock) == b""
        assert DEADLINE_S <= time.monotonic() - started < DEADLINE_S + 2


def test_trickling_on_after_the_answer_does_not_hold_the_connection(impatient):
    """uvicorn's keep-alive timer restarts on every byte; the head deadline does not."""
    with connect(impatient) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\nContent-Length: 50000\r\n\r\n")
        sock.settimeout(0.2)
        answer = b""
        while time.monotonic() - started < DEADLINE_S + 3:
            try:
                sock.sendall(b"x")
                chunk = sock.recv(65536)
            except socket.timeout:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
            if not chunk:
                break
            answer += chunk
        assert time.monotonic() - started < DEADLINE_S + 3, "the server never hung up"
    assert answer.startswith(b"HTTP/1.1 200")


def test_prompt_clients_are_unaffected(impatient, compare_form, gallery):
    content_type, body = compare_form
    with httpx.Client(base_url=impatient.url, timeout=30) as client:  # one kept-alive connection
        for _ in range(3):
            response = client.post("/v1/compare", content=body, headers={"content-type": content_type})
            assert response.status_code == 200, response.text
            time.sleep(DEADLINE_S / 2)
        assert client.get("/healthz").status_code == 200


def test_the_body_timeout_must_be_positive():
    with pytest.raises(SiamkitError, match="body_timeout_s"):
        ServiceSettings(body_timeout_s=0)


def test_siamkit_serve_names_the_protocol_with_the_head_deadline():
    """By name, so --workers processes import it only when they start serving (see serve_commands)."""
    from uvicorn.importer import import_from_string

    from siamkit.cli.serve_commands import HTTP_PROTOCOL

    assert import_from_string(HTTP_PROTOCOL) is HeadDeadlineProtocol
