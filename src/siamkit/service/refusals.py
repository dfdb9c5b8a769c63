"""Turning a refusal raised from inside a request body's ``receive()`` into an answer.

The body-size limit and the body deadline both wrap ``receive`` and raise an HTTPException
subclass from it. Where that happens inside FastAPI's request handling it becomes a response
as usual; where it escapes the app (raised somewhere that does not turn HTTPExceptions into
responses) the middleware must answer itself, and only while no response has started.
"""

from __future__ import annotations

from fastapi import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


async def call_answering_refusals(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send, wrapped_receive: Receive, refusal: type[HTTPException]
) -> None:
    """Run ``app`` with ``wrapped_receive``; answer an escaped ``refusal`` with its status and detail."""
    response_started = False

    async def watched_send(message: Message) -> None:
        nonlocal response_started
        response_started = response_started or message["type"] == "http.response.start"
        await send(message)

    try:
        await app(scope, wrapped_receive, watched_send)
    except refusal as exc:
        if response_started:
            raise
        await JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)(scope, receive, send)
