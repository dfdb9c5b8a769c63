"""Deadlines for slow clients, which uvicorn does not set.

uvicorn waits for a request head, and the app waits for a request body, as long as the client
keeps its socket open. A client that sends one byte every few seconds (slowloris), stops
half-way through an upload, or connects and says nothing holds a connection, a file descriptor
and its buffers for ever; enough of them and the process runs out of descriptors and stops
accepting anyone (measured with ``benchmarks/service_attack.py``: every such connection was
still open when the run ended). Two deadlines, after Apache's mod_reqtimeout, cut them off
without troubling any real client:

* :class:`BodyDeadline` (ASGI middleware): the body must arrive within ``timeout_s`` plus one
  second per ``min_rate`` bytes received so far, with no pause longer than ``timeout_s``;
  otherwise 408, and the connection is closed. A phone on a poor link sends tens of KB a
  second; a client below 500 bytes a second is not uploading a photo. (Without the cap on
  pauses, a client that sent 25 KB and stopped would be waited for 70 s.)
* :class:`HeadDeadlineProtocol` (uvicorn's HTTP protocol, h11 or httptools): a request head
  must be complete within :data:`HEAD_TIMEOUT_S` of the connection opening or of the previous
  answer; otherwise the connection is closed (there is no request yet to answer).

A reverse proxy in front does the same and more (connections per client address); these keep a
bare ``siamkit serve`` from being held open by a handful of slow sockets.
"""

from __future__ import annotations

import asyncio

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from siamkit.service.refusals import call_answering_refusals

BODY_TIMEOUT_S = 20.0
MIN_BODY_RATE = 500  # bytes a second
HEAD_TIMEOUT_S = 20.0


class RequestTimeout(HTTPException):
    """408, with the connection closed: the rest of a stalled body is not worth waiting for."""

    def __init__(self, detail: str):
        super().__init__(status_code=408, detail=detail, headers={"Connection": "close"})


class BodyDeadline:
    """ASGI middleware: refuse a request body that arrives slower than the deadline allows."""

    def __init__(self, app: ASGIApp, timeout_s: float = BODY_TIMEOUT_S, min_rate: float = MIN_BODY_RATE):
        self.app = app
        self.timeout_s = timeout_s
        self.min_rate = min_rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        started = loop.time()
        received = 0
        body_done = False

        async def timed_receive() -> Message:
            nonlocal received, body_done
            if body_done:  # after the body, receive() only reports a disconnect: the app's business
                return await receive()
            allowed = self.timeout_s + received / self.min_rate
            wait = min(started + allowed - loop.time(), self.timeout_s)
            try:
                message = await asyncio.wait_for(receive(), wait)
            except asyncio.TimeoutError:
                raise RequestTimeout(
                    f"request body too slow: {received} bytes in {loop.time() - started:.0f} s; send it within "
                    f"{self.timeout_s:g} s plus 1 s per {self.min_rate:g} bytes, pausing no longer than {self.timeout_s:g} s"
                ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                body_done = not message.get("more_body", False)
            else:
                body_done = True
            return message

        await call_answering_refusals(self.app, scope, receive, send, timed_receive, RequestTimeout)


class HeadDeadlineProtocol(AutoHTTPProtocol):
    """uvicorn's HTTP protocol (httptools when installed, else h11) with a deadline on request heads.

    Both implementations create ``self.cycle`` when a head is complete and call
    ``on_response_complete`` after each answer, so the connection is waiting for a head while
    there is no cycle or the last one has been answered. A module-level class, so that
    ``--workers`` processes can import it by name.
    """

    head_timeout_s = HEAD_TIMEOUT_S
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self._waiting_for_head():
            self._cancel_head_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._waiting_for_head():  # a pipelined request may already have started
            self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_deadline()
        super().connection_lost(exc)

    def _waiting_for_head(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm_head_deadline(self) -> None:
        self._cancel_head_deadline()
        self._head_timer = asyncio.get_running_loop().call_later(self.head_timeout_s, self._head_deadline_passed)

    def _cancel_head_deadline(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_deadline_passed(self) -> None:
        self._head_timer = None
        if self._waiting_for_head() and not self.transport.is_closing():
            self.transport.close()
