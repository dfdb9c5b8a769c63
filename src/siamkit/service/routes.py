"""The endpoints: JSON for compare, embed, search and the model, the gallery images, the page.

Handlers only parse, call the shared state or the model, and shape the answer; the numbers
(``compare``'s distance and similarity, search hits) come from ``SiameseModel`` and
``GalleryIndex`` so they mean what they mean everywhere else in siamkit.
"""

from __future__ import annotations

import asyncio
import io
import os
from pathlib import Path
from typing import List

import numpy as np
from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, Response

from siamkit.errors import SiamkitError
from siamkit.service.auth import read_access
from siamkit.service.schemas import AUTH_ERRORS, ERRORS, CompareResult, EmbedResult, ErrorMessage, ModelInfo, SearchHit, SearchResult
from siamkit.service.settings import MAX_EMBED_IMAGES, MAX_K
from siamkit.service.state import service_state
from siamkit.service.uploads import UploadTooLarge
from siamkit.version import __version__

STATIC_FOLDER = Path(__file__).parent / "static"
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
# A flat search over a gallery this size takes well under a millisecond: no thread hop.
INLINE_SEARCH_GALLERY_SIZE = 50_000

router = APIRouter()


@router.post("/v1/compare", response_model=CompareResult, responses={**ERRORS, **AUTH_ERRORS}, tags=["similarity"], dependencies=[Depends(read_access)])
async def compare(
    request: Request,
    image_a: UploadFile = File(..., description="First image."),
    image_b: UploadFile = File(..., description="Second image."),
) -> CompareResult:
    """How alike two images are, and whether the model calls them the same identity."""
    state = service_state(request)
    embeddings = await state.embed_uploads([("image_a", image_a), ("image_b", image_b)])
    return CompareResult(**state.model.compare_embeddings(embeddings[0], embeddings[1]).to_dict())


@router.post("/v1/embed", response_model=EmbedResult, responses={**ERRORS, **AUTH_ERRORS}, tags=["similarity"], dependencies=[Depends(read_access)])
async def embed(
    request: Request,
    images: List[UploadFile] = File(..., description=f"One or more images (repeat the field, at most {MAX_EMBED_IMAGES})."),
) -> EmbedResult:
    """L2-normalised embeddings, one row per uploaded image, in upload order."""
    if len(images) > MAX_EMBED_IMAGES:
        raise UploadTooLarge(f"{len(images)} images in one request; send at most {MAX_EMBED_IMAGES}")
    embeddings = await service_state(request).embed_uploads([(f"images[{i}]", image) for i, image in enumerate(images)])
    return EmbedResult(embeddings=embeddings.astype(np.float32).tolist(), dim=int(embeddings.shape[1]))


@router.post("/v1/search", response_model=SearchResult, responses={**ERRORS, **AUTH_ERRORS}, tags=["gallery"], dependencies=[Depends(read_access)])
async def search(
    request: Request,
    image: UploadFile = File(..., description="Query image."),
    k: int = Form(10, ge=1, le=MAX_K, description="How many gallery images to return."),
) -> SearchResult:
    """The ``k`` gallery images most similar to the query, best first."""
    state = service_state(request)
    searched = state.gallery if state.gallery is not None else state.index
    if searched is None:
        raise HTTPException(409, "no gallery is loaded; start the server with --gallery STORE or --index INDEX to search")
    if len(searched) == 0:
        raise HTTPException(409, "the gallery is empty; add images to it before searching")
    query = await state.embed_uploads([("image", image)])
    prefix = request.scope.get("root_path", "").rstrip("/")
    try:
        if len(searched) <= INLINE_SEARCH_GALLERY_SIZE:
            hits = searched.search(query, k)[0]
        else:
            hits = (await asyncio.get_running_loop().run_in_executor(state.decode_pool, searched.search, query, k))[0]
    except SiamkitError as exc:  # the living gallery emptied while the query was embedded
        raise HTTPException(409, str(exc)) from None
    # enrolled images are named as their client named them; indexed ones relative to the gallery folder
    root, threshold = ("" if state.gallery is not None else _gallery_root(state)), state.model.threshold
    return SearchResult(
        hits=[
            SearchHit(
                id=hit["id"], path=_relative(hit["path"], root), label=hit["label"], similarity=hit["similarity"],
                distance=hit["distance"], same=hit["distance"] <= threshold, image_url=f"{prefix}/v1/gallery/{hit['id']}",
            )
            for hit in hits
        ]
    )


def _gallery_root(state) -> str:
    """The folder all gallery images are under, found once per served index.

    Hits name images relative to it: enough to tell which image matched, without telling the
    client where the server keeps its files.
    """
    root = getattr(state, "gallery_root", None)
    if root is None:
        try:
            root = os.path.commonpath(sorted({os.path.dirname(path) for path in state.index.paths}))
        except ValueError:  # relative and absolute paths mixed, or on different drives
            root = ""
        state.gallery_root = root
    return root


def _relative(path: str, root: str) -> str:
    return os.path.relpath(path, root) if root else os.path.basename(path)


def _sniffed_type(data: bytes) -> str | None:
    """The web media type of image bytes, from their header; None for formats browsers lack."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format
    except Exception:  # noqa: BLE001 - not an image a browser can show as it is
        return None
    return {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp", "BMP": "image/bmp"}.get(kind)


@router.get(
    "/v1/gallery/{item_id}",
    response_class=Response,
    responses={200: {"content": {"image/*": {}}}, 404: {"model": ErrorMessage}, **AUTH_ERRORS},
    tags=["gallery"],
    dependencies=[Depends(read_access)],
)
async def gallery_image(request: Request, item_id: str) -> Response:
    """A gallery image by its id (as returned by search and the gallery listing)."""
    state = service_state(request)
    if state.gallery is not None:
        return await _stored_image(state, item_id)
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


async def _stored_image(state, item_id: str) -> Response:
    """An enrolled image from the gallery store (as uploaded, or as PNG where browsers cannot show it)."""
    if not (item_id.isascii() and item_id.isdigit()) or len(item_id) > 18:
        raise HTTPException(404, "no gallery image with this id")
    data = await state.in_store_thread(state.gallery.store.image, int(item_id))
    if data is None:
        raise HTTPException(404, "no gallery image with this id")
    # private: with --read-access key an image is not for shared caches
    headers = {"Cache-Control": "private, max-age=300", "X-Content-Type-Options": "nosniff"}
    media_type = _sniffed_type(data)
    if media_type is None:
        try:
            data, media_type = await asyncio.get_running_loop().run_in_executor(state.decode_pool, _as_png, data), "image/png"
        except SiamkitError:
            raise HTTPException(404, "this gallery image can no longer be read") from None
    return Response(data, media_type=media_type, headers=headers)


def _as_png(source) -> bytes:
    from siamkit.data.images import load_image

    buffer = io.BytesIO()
    load_image(source).save(buffer, "PNG")
    return buffer.getvalue()


@router.get("/v1/model", response_model=ModelInfo, tags=["service"])
async def model_info(request: Request) -> ModelInfo:
    """The model being served, the gallery size and how requests have been batched."""
    state = service_state(request)
    config = state.model.config
    return ModelInfo(
        backbone=config.backbone,
        embedding_dim=config.embedding_dim,
        image_size=config.preprocessing.image_size,
        threshold=config.threshold,
        distance=config.distance,
        model_id=state.model.model_id,
        backend=str(getattr(state.model, "backend", "torch")),
        gallery_size=state.gallery_size,
        gallery_store=state.gallery is not None,
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
