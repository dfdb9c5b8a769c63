"""Uploaded images: bounded reading, then decoding into model input, or a clear HTTP error.

A web service must not buffer whatever a client sends. :class:`RequestSizeLimit` refuses a
request whose declared Content-Length is too large before reading any of it, and counts the
bytes of bodies that declare no length (chunked uploads) as they arrive, stopping at the
limit. Only then does the multipart parser see the body. Each image must then decode through
:func:`siamkit.data.images.load_image`, which also refuses decompression bombs (a small file
that expands into billions of pixels) before allocating them.
"""

from __future__ import annotations

import io
import warnings
from typing import Callable, Mapping

from fastapi import HTTPException, UploadFile
from PIL import Image
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from siamkit.data.images import ImageDecodeError, load_image
from siamkit.service.refusals import call_answering_refusals

# Room for multipart boundaries, part headers and small form fields (k) next to the images.
FORM_OVERHEAD_BYTES = 64 * 1024
# Requests to any other path (GET /, /v1/model, ...) need no body at all.
DEFAULT_BODY_LIMIT = FORM_OVERHEAD_BYTES


def describe_bytes(size: float) -> str:
    if size >= 2**30:
        return f"{size / 2**30:,.1f} GB"
    return f"{size / 2**20:.1f} MB" if size >= 2**20 else f"{size / 1024:.0f} KB"


def describe_excess(size: int, limit: int) -> tuple[str, str]:
    """``size`` and ``limit`` for "X is over Y", in bytes where rounding would make them read
    the same (fuzz_service.py found "256 KB is over the 256 KB limit per image")."""
    if describe_bytes(size) == describe_bytes(limit):
        return f"{size:,} bytes", f"{limit:,} bytes"
    return describe_bytes(size), describe_bytes(limit)


class UploadTooLarge(HTTPException):
    """413. An HTTPException, so it passes through FastAPI's form parsing unchanged."""

    def __init__(self, detail: str):
        super().__init__(status_code=413, detail=detail)


class UnsupportedImage(HTTPException):
    """415: the upload is not an image siamkit can decode (or is a decompression bomb)."""

    def __init__(self, detail: str):
        super().__init__(status_code=415, detail=detail)


class RequestSizeLimit:
    """ASGI middleware: cap each request body, per path, while it is being received."""

    def __init__(self, app: ASGIApp, limits: Mapping[str, int], default: int = DEFAULT_BODY_LIMIT, note: str = ""):
        self.app = app
        self.limits = dict(limits)
        self.default = default
        self.note = f" ({note})" if note else ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            size, most = describe_excess(int(declared), limit)
            detail = f"request body of {size} is over the {most} this endpoint accepts{self.note}"
            await _send_413(scope, receive, send, detail)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise UploadTooLarge(f"request body is over the {describe_bytes(limit)} this endpoint accepts{self.note}")
            return message

        await call_answering_refusals(self.app, scope, receive, send, limited_receive, UploadTooLarge)

    def limit_for(self, path: str) -> int:
        # endswith: behind a proxy the path may carry a prefix (root_path).
        for endpoint, limit in self.limits.items():
            if path.endswith(endpoint):
                return limit
        return self.default


async def _send_413(scope: Scope, receive: Receive, send: Send, detail: str) -> None:
    # No "Connection: close": uvicorn reads and discards the unread body after the response,
    # so a client that sends its whole body before reading still gets the 413, not a reset.
    await JSONResponse({"detail": detail}, status_code=413)(scope, receive, send)


async def read_upload(upload: UploadFile, field: str, max_bytes: int) -> bytes:
    """The bytes of one uploaded file, refusing files over ``max_bytes``."""
    size = upload.size
    if size is not None and size > max_bytes:
        size_text, limit_text = describe_excess(size, max_bytes)
        raise UploadTooLarge(f"{field} ({upload_name(upload)}): {size_text} is over the limit of {limit_text} per image")
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UploadTooLarge(f"{field} ({upload_name(upload)}): file is over the limit of {describe_bytes(max_bytes)} per image")
    return data


def decode_upload(data: bytes, field: str, filename: str, transform: Callable, max_pixels: int | None = None):
    """Decode one image and preprocess it with ``transform`` (the service passes
    ``ImageDecoder.array``), in a worker thread; 415 with the reason if it does not decode.

    None, without decoding, if the header claims more than ``max_pixels``: the caller decodes
    such images in a lane of their own (see ``ServiceState``).
    """
    if max_pixels is not None and header_pixels(data) > max_pixels:
        return None
    try:
        image = load_image(data)
    except ImageDecodeError as exc:
        # load_image names byte input "<N bytes>"; the client knows its file by field and name.
        reason = str(exc)
        if reason.startswith("<"):
            reason = reason.split(": ", 1)[-1]
        raise UnsupportedImage(f"{field} ({filename}): {reason}") from None
    return transform(image)


def header_pixels(data: bytes) -> int:
    """Width x height from the image header alone (Pillow opens lazily); 0 if there is none."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
    except Exception:  # noqa: BLE001 - not an image: decode_upload says why
        return 0
    return width * height


def upload_name(upload: UploadFile) -> str:
    """The client's file name, made safe to echo in a one-line message."""
    name = (upload.filename or "upload").replace("\n", " ").replace("\r", " ")
    return name if len(name) <= 80 else name[:77] + "..."
