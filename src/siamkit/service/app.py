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
from siamkit.service.gallery_routes import gallery_router
from siamkit.service.routes import PAGE_SECURITY_POLICY, STATIC_FOLDER, WEB_IMAGE_TYPES, router
from siamkit.service.schemas import ERRORS, CompareResult, EmbedResult, ErrorMessage, ModelInfo, SearchHit, SearchResult
from siamkit.service.settings import LARGE_IMAGE_PIXELS, MAX_EMBED_IMAGES, MAX_K, ServiceSettings, body_limits, check_gallery_options
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


def create_app(
    model: SiameseModel, index: GalleryIndex | None = None, settings: ServiceSettings | None = None, gallery=None, keys=None
) -> FastAPI:
    """The service for ``model``, searching ``index`` (a read-only :class:`GalleryIndex`, whose
    model must be ``model``) or ``gallery`` (a gallery store, ``siamkit.gallery.open_store``, that
    keys with write scope from ``keys``, a :class:`KeyFile`, may enroll into and remove from)."""
    settings = settings or ServiceSettings()
    if index is not None:
        index.check_model(model.model_id)
    check_gallery_options(index is not None, gallery is not None, settings, keys is not None)
    live = None
    if gallery is not None:
        from siamkit.gallery.live import LiveGallery

        live = LiveGallery(gallery, model.model_id, model.embedding_dim)
    state = ServiceState(model, index, settings, live, keys)

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
        docs_url=None,  # served below from local files: /docs works without internet
        redoc_url=None,  # ReDoc has no offline package; Swagger UI at /docs shows the same schema
    )
    app.state.service = state
    app.include_router(gallery_router)  # before router: /v1/gallery/labels is not an image id
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_FOLDER), name="static")
    _offline_docs(app)

    @app.exception_handler(SiamkitError)
    async def _user_error(request: Request, exc: SiamkitError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    note = f"images up to {settings.max_upload_mb:g} MB each"
    app.add_middleware(RequestSizeLimit, limits=body_limits(settings), note=note)
    app.add_middleware(BodyDeadline, timeout_s=settings.body_timeout_s)
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST", "DELETE"], allow_headers=["*"]
        )
    return app


def _offline_docs(app: FastAPI) -> None:
    """Swagger UI at /docs from the swagger-ui-bundle package's files, not from a CDN."""
    import swagger_ui_bundle
    from fastapi.openapi.docs import get_swagger_ui_html

    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request):
        prefix = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{prefix}{app.openapi_url}",
            title=f"{app.title} API",
            swagger_js_url=f"{prefix}/docs-assets/swagger-ui-bundle.js",
            swagger_css_url=f"{prefix}/docs-assets/swagger-ui.css",
            swagger_favicon_url=f"{prefix}/docs-assets/favicon-32x32.png",
        )


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
    gallery = keys = None
    if config.get("gallery"):
        from siamkit.gallery import open_store

        gallery = open_store(config["gallery"])
    if config.get("api_keys"):
        from siamkit.gallery.keys import KeyFile

        keys = KeyFile.load(config["api_keys"])
    return create_app(model, index, ServiceSettings(**settings), gallery, keys)
