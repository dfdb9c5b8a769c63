"""The similarity web service: a FastAPI app over one :class:`SiameseModel` and an optional gallery.

Every request goes the same way: multipart upload, checked for size and pace while it arrives
(``uploads``, ``deadlines``), decoded and preprocessed in a thread pool, embedded in a micro-batch shared
with concurrent requests (``batching``), then compared or searched. The web page in
``static/`` calls the same JSON endpoints as any other client. Nothing a client sends is ever
used as a file-system path: gallery images are looked up by their index id.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import List

import numpy as np
import torch
from fastapi import APIRouter, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from siamkit.errors import SiamkitError
from siamkit.inference.siamese_model import Comparison, SiameseModel, distance_to_similarity
from siamkit.search import GalleryIndex
from siamkit.service.batching import DirectEmbedder, MicroBatcher
from siamkit.service.deadlines import BODY_TIMEOUT_S, BodyDeadline
from siamkit.service.uploads import FORM_OVERHEAD_BYTES, RequestSizeLimit, UploadTooLarge, decode_upload, read_upload, upload_name
from siamkit.version import __version__

STATIC_FOLDER = Path(__file__).parent / "static"
MAX_K = 100
MAX_EMBED_IMAGES = 16
# Images over this many pixels decode one at a time in a lane of their own. A PNG of a few KB
# can claim 88 megapixels (under the decoder's limit): seconds of CPU and 0.3-1.5 GB to decode.
# Two clients sending those through the shared decode threads took valid compares from 130 ms
# to 1-10 s (p50) and the server to 2.6-5.6 GB (benchmarks/service_attack.py, pixel flood).
# 16 MP lets a 12 MP phone photo through the shared threads.
LARGE_IMAGE_PIXELS = 16_000_000
ENVIRONMENT_VARIABLE = "SIAMKIT_SERVE_CONFIG"
# Gallery files a browser shows as they are; anything else (TIFF, PGM, ...) is sent as PNG.
WEB_IMAGE_TYPES = {
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".gif": "image/gif",
    ".webp": "image/webp", ".bmp": "image/bmp",
}
# The page loads nothing from elsewhere, and this header makes sure it cannot.
PAGE_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


@dataclass(frozen=True)
class ServiceSettings:
    max_upload_mb: float = 10.0
    cors_origins: tuple[str, ...] = ()
    batching: bool = True
    batch_wait_ms: float = 5.0
    max_batch: int = 32
    decode_threads: int = 0  # 0: min(4, cores), at least 2
    model_workers: int = 0  # concurrent model calls; 0: cores / PyTorch threads per call
    body_timeout_s: float = BODY_TIMEOUT_S  # plus 1 s per 500 bytes received (see deadlines)

    def __post_init__(self) -> None:
        if not self.max_upload_mb > 0:
            raise SiamkitError(f"--max-upload-mb must be positive, got {self.max_upload_mb}")
        if self.batch_wait_ms < 0:
            raise SiamkitError(f"--batch-wait-ms must be 0 or more, got {self.batch_wait_ms}")
        if self.max_batch < 1:
            raise SiamkitError(f"--max-batch must be at least 1, got {self.max_batch}")
        if not self.body_timeout_s > 0:
            raise SiamkitError(f"body_timeout_s must be positive, got {self.body_timeout_s}")
        for origin in self.cors_origins:
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise SiamkitError(f"--cors-origin {origin!r}: give an origin such as https://example.org, or *")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 2**20)

    def to_dict(self) -> dict:
        return {**asdict(self), "cors_origins": list(self.cors_origins)}


# ----------------------------------------------------------------------------- response shapes


class CompareResult(BaseModel):
    distance: float = Field(description="Euclidean distance between the two unit-length embeddings, in [0, 2].")
    similarity: float = Field(description="(1 + cosine) / 2, in [0, 1].")
    same: bool = Field(description="distance <= threshold: the model's same/different decision.")
    threshold: float = Field(description="The model folder's validation threshold on distance.")


class EmbedResult(BaseModel):
    embeddings: List[List[float]]
    dim: int


class SearchHit(BaseModel):
    id: int
    label: str
    similarity: float
    distance: float
    image_url: str


class SearchResult(BaseModel):
    hits: List[SearchHit]


class ModelInfo(BaseModel):
    backbone: str
    embedding_dim: int
    image_size: int
    threshold: float
    distance: str
    model_id: str
    backend: str
    gallery_size: int
    siamkit_version: str
    max_upload_mb: float
    max_k: int
    max_embed_images: int
    batching: dict


class ErrorMessage(BaseModel):
    detail: str


ERRORS = {status: {"model": ErrorMessage} for status in (400, 404, 409, 413, 415)}


# ----------------------------------------------------------------------------- state


class ServiceState:
    """What the request handlers share: the model, the gallery, the batcher and the decode threads."""

    def __init__(self, model: SiameseModel, index: GalleryIndex | None, settings: ServiceSettings):
        self.model = model
        self.index = index
        self.settings = settings
        cores = os.cpu_count() or 2
        self.transform = self.model.config.preprocessing.eval_transform()
        embed = self.model.embed_tensors
        # Each call uses torch.get_num_threads() cores (onnxruntime reads the same setting).
        workers = self.settings.model_workers or max(1, cores // torch.get_num_threads())
        self.embedder: MicroBatcher | DirectEmbedder
        if self.settings.batching:
            self.embedder = MicroBatcher(embed, self.settings.max_batch, self.settings.batch_wait_ms, workers)
        else:
            self.embedder = DirectEmbedder(embed, workers)
        self.decode_threads = self.settings.decode_threads or max(2, min(4, cores))
        self.decode_pool = ThreadPoolExecutor(max_workers=self.decode_threads, thread_name_prefix="siamkit-decode", initializer=_one_torch_thread)
        self.large_image_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="siamkit-decode-large", initializer=_one_torch_thread)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        threads = torch.get_num_threads()
        await asyncio.gather(*(loop.run_in_executor(self.decode_pool, time.sleep, 0.01) for _ in range(self.decode_threads)))
        if torch.get_num_threads() != threads:  # a PyTorch build whose setting is process-wide
            torch.set_num_threads(threads)
        size = self.model.config.preprocessing.image_size
        # The first forward pass allocates and plans; do it before the first request waits for it.
        await loop.run_in_executor(None, self.model.embed_tensors, torch.zeros(1, 3, size, size))
        await self.embedder.start()

    async def stop(self) -> None:
        await self.embedder.stop()
        self.decode_pool.shutdown(wait=True)
        self.large_image_pool.shutdown(wait=True)

    async def embed_uploads(self, uploads: list[tuple[str, UploadFile]]) -> np.ndarray:
        limit = self.settings.max_upload_bytes
        contents = [await read_upload(upload, name, limit) for name, upload in uploads]
        tensors = await asyncio.gather(*(self.decode(data, name, upload_name(upload)) for data, (name, upload) in zip(contents, uploads)))
        return await self.embedder.embed(torch.stack(tensors))

    async def decode(self, data: bytes, field: str, filename: str) -> torch.Tensor:
        """Decode in the shared threads, or in the one-at-a-time lane if the image is large."""
        loop = asyncio.get_running_loop()
        tensor = await loop.run_in_executor(self.decode_pool, decode_upload, data, field, filename, self.transform, LARGE_IMAGE_PIXELS)
        if tensor is None:
            tensor = await loop.run_in_executor(self.large_image_pool, decode_upload, data, field, filename, self.transform)
        return tensor

    def gallery_file(self, item_id: str) -> Path | None:
        """The file of a gallery item, found only through the index; None for anything else."""
        if self.index is None or not (item_id.isascii() and item_id.isdigit()) or len(item_id) > 18:
            return None
        item = self.index.get(int(item_id))
        if item is None:
            return None
        path = Path(item["path"])
        if not path.is_absolute() and not path.is_file() and self.index.file is not None:
            path = self.index.file.parent / path
        return path if path.is_file() else None


def _one_torch_thread() -> None:
    """Decode threads run PyTorch ops on one image at a time: too small to gain from intra-op
    threads, and on a busy CPU their OpenMP hand-offs cost 20-50x the work itself (measured:
    ToTensor + Normalize of a 160 px image, 100 ms wall with 2 threads, 2 ms with 1). With
    OpenMP the setting is per thread, so the model keeps all its threads."""
    torch.set_num_threads(1)


def _state(request: Request) -> ServiceState:
    return request.app.state.service


# ----------------------------------------------------------------------------- endpoints

router = APIRouter()


@router.post("/v1/compare", response_model=CompareResult, responses=ERRORS, tags=["similarity"])
async def compare(
    request: Request,
    image_a: UploadFile = File(..., description="First image."),
    image_b: UploadFile = File(..., description="Second image."),
) -> CompareResult:
    """How alike two images are, and whether the model calls them the same identity."""
    state = _state(request)
    embeddings = await state.embed_uploads([("image_a", image_a), ("image_b", image_b)])
    distance = float(np.linalg.norm(embeddings[0] - embeddings[1]))
    threshold = state.model.threshold
    result = Comparison(distance, float(distance_to_similarity(distance)), distance <= threshold, threshold)
    return CompareResult(**result.to_dict())


@router.post("/v1/embed", response_model=EmbedResult, responses=ERRORS, tags=["similarity"])
async def embed(
    request: Request,
    images: List[UploadFile] = File(..., description=f"One or more images (repeat the field, at most {MAX_EMBED_IMAGES})."),
) -> EmbedResult:
    """L2-normalised embeddings, one row per uploaded image, in upload order."""
    if len(images) > MAX_EMBED_IMAGES:
        raise UploadTooLarge(f"{len(images)} images in one request; send at most {MAX_EMBED_IMAGES}")
    embeddings = await _state(request).embed_uploads([(f"images[{i}]", image) for i, image in enumerate(images)])
    return EmbedResult(embeddings=embeddings.astype(np.float32).tolist(), dim=int(embeddings.shape[1]))


@router.post("/v1/search", response_model=SearchResult, responses=ERRORS, tags=["gallery"])
async def search(
    request: Request,
    image: UploadFile = File(..., description="Query image."),
    k: int = Form(10, ge=1, le=MAX_K, description="How many gallery images to return."),
) -> SearchResult:
    """The ``k`` gallery images most similar to the query, best first."""
    state = _state(request)
    if state.index is None:
        raise HTTPException(409, "no gallery index is loaded; start the server with --index INDEX to search")
    if len(state.index) == 0:
        raise HTTPException(409, "the gallery index is empty; add images to it before searching")
    query = await state.embed_uploads([("image", image)])
    prefix = request.scope.get("root_path", "").rstrip("/")
    # A flat search over a gallery this size takes well under a millisecond: no thread hop.
    if len(state.index) <= 50_000:
        hits = state.index.search(query, k)[0]
    else:
        hits = (await asyncio.get_running_loop().run_in_executor(state.decode_pool, state.index.search, query, k))[0]
    return SearchResult(
        hits=[
            SearchHit(id=hit["id"], label=hit["label"], similarity=hit["similarity"], distance=hit["distance"], image_url=f"{prefix}/v1/gallery/{hit['id']}")
            for hit in hits
        ]
    )


@router.get(
    "/v1/gallery/{item_id}",
    response_class=Response,
    responses={200: {"content": {"image/*": {}}}, 404: {"model": ErrorMessage}},
    tags=["gallery"],
)
async def gallery_image(request: Request, item_id: str) -> Response:
    """A gallery image by its index id (as returned by search)."""
    state = _state(request)
    path = state.gallery_file(item_id)
    if path is None:
        raise HTTPException(404, "no gallery image with this id")
    headers = {"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"}
    media_type = WEB_IMAGE_TYPES.get(path.suffix.lower())
    if media_type is not None:
        return FileResponse(path, media_type=media_type, headers=headers)
    try:
        png = await asyncio.get_running_loop().run_in_executor(state.decode_pool, _as_png, path)
    except SiamkitError:
        raise HTTPException(404, "this gallery image can no longer be read") from None
    return Response(png, media_type="image/png", headers=headers)


def _as_png(path: Path) -> bytes:
    from siamkit.data.images import load_image

    buffer = io.BytesIO()
    load_image(path).save(buffer, "PNG")
    return buffer.getvalue()


@router.get("/v1/model", response_model=ModelInfo, tags=["service"])
async def model_info(request: Request) -> ModelInfo:
    """The model being served, the gallery size and how requests have been batched."""
    state = _state(request)
    config = state.model.config
    return ModelInfo(
        backbone=config.backbone,
        embedding_dim=config.embedding_dim,
        image_size=config.preprocessing.image_size,
        threshold=config.threshold,
        distance=config.distance,
        model_id=state.model.model_id,
        backend=str(getattr(state.model, "backend", "torch")),
        gallery_size=len(state.index) if state.index is not None else 0,
        siamkit_version=__version__,
        max_upload_mb=state.settings.max_upload_mb,
        max_k=MAX_K,
        max_embed_images=MAX_EMBED_IMAGES,
        batching=state.embedder.stats.to_dict(),
    )


@router.get("/healthz", tags=["service"])
async def healthz() -> dict:
    return {"status": "ok"}


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(
        STATIC_FOLDER / "index.html",
        media_type="text/html",
        headers={"Content-Security-Policy": PAGE_SECURITY_POLICY, "Cache-Control": "no-cache"},
    )


# ----------------------------------------------------------------------------- the app


def body_limits(settings: ServiceSettings) -> dict[str, int]:
    """Largest request body per endpoint: its number of images times the per-image limit."""
    per_image = settings.max_upload_bytes
    return {
        "/v1/compare": 2 * per_image + FORM_OVERHEAD_BYTES,
        "/v1/search": per_image + FORM_OVERHEAD_BYTES,
        "/v1/embed": MAX_EMBED_IMAGES * per_image + FORM_OVERHEAD_BYTES,
    }


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
