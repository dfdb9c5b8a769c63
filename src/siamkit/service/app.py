"""The similarity web service: a FastAPI app over one :class:`SiameseModel` and an optional gallery.

Every request goes the same way: multipart upload, checked for size and pace while it arrives
(``uploads``, ``deadlines``), decoded and preprocessed in a thread pool, embedded in a micro-batch shared
with concurrent requests (``batching``, driven by ``state``), then compared or searched (``routes``). The web page in
``static/`` calls the same JSON endpoints as any other client. Nothing a client sends is ever
used as a file-system path: gallery images are looked up by their index id.

This module puts the pieces together: ``create_app`` for one process, and
``create_app_from_environment`` for ``siamkit serve --workers N``.
"""

from __future__ import annotations

import json
import os
from contextlib import asynccontextmanager

import torch
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from siamkit.errors import SiamkitError
from siamkit.inference.siamese_model import SiameseModel
from siamkit.search import GalleryIndex
from siamkit.service.deadlines import BodyDeadline
from siamkit.service.routes import PAGE_SECURITY_POLICY, STATIC_FOLDER, WEB_IMAGE_TYPES, router
from siamkit.service.schemas import ERRORS, CompareResult, EmbedResult, ErrorMessage, ModelInfo, SearchHit, SearchResult
from siamkit.service.settings import LARGE_IMAGE_PIXELS, MAX_EMBED_IMAGES, MAX_K, ServiceSettings, body_limits
from siamkit.service.state import ServiceState
from siamkit.service.uploads import RequestSizeLimit
from siamkit.version import __version__

ENVIRONMENT_VARIABLE = "SIAMKIT_SERVE_CONFIG"

# Names this module held before it was split; code outside the service imports some of them from here.
__all__ = [
    "ENVIRONMENT_VARIABLE", "ERRORS", "LARGE_IMAGE_PIXELS", "MAX_EMBED_IMAGES", "MAX_K", "PAGE_SECURITY_POLICY",
    "STATIC_FOLDER", "WEB_IMAGE_TYPES", "CompareResult", "EmbedResult", "ErrorMessage", "ModelInfo", "SearchHit",
    "SearchResult", "ServiceSettings", "ServiceState", "body_limits", "create_app", "create_app_from_environment", "router",
]


def create_app(model: SiameseModel, index: GalleryIndex | None = None, settings: ServiceSettings | None = None) -> FastAPI:
    """The service for ``model`` (and ``index``, whose model must be ``model``)."""
    settings = settings or ServiceSettings()
    if index is not None:
        index.check_model(model.model_id)
    state = ServiceState(model, index, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await state.start()
        try:
            yield
        finally:
            await state.stop()

    app = FastAPI(
        title="siamkit",
        version=__version__,
        description="Image similarity with a Siamese network: compare two images, embed images, search a gallery.",
        lifespan=lifespan,
    )
    app.state.service = state
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_FOLDER), name="static")

    @app.exception_handler(SiamkitError)
    async def _user_error(request: Request, exc: SiamkitError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    note = f"images up to {settings.max_upload_mb:g} MB each"
    app.add_middleware(RequestSizeLimit, limits=body_limits(settings), note=note)
    app.add_middleware(BodyDeadline, timeout_s=settings.body_timeout_s)
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"], allow_headers=["*"]
        )
    return app


def create_app_from_environment() -> FastAPI:
    """Factory for ``uvicorn --factory`` worker processes: ``siamkit serve --workers N`` passes
    the model folder, index and settings in the environment (each worker loads its own copy)."""
    config = json.loads(os.environ[ENVIRONMENT_VARIABLE])
    settings = config["settings"]
    settings["cors_origins"] = tuple(settings.get("cors_origins", ()))
    threads = config.get("torch_threads")
    if threads:
        torch.set_num_threads(int(threads))
    model = SiameseModel.load(config["model"], backend=config.get("backend", "auto"))
    index = GalleryIndex.load(config["index"]) if config.get("index") else None
    return create_app(model, index, ServiceSettings(**settings))
