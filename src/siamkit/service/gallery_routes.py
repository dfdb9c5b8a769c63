"""The living gallery's endpoints: enroll, remove and browse images (``siamkit serve --gallery``).

An enrollment decodes and embeds every uploaded image first, then writes them in one
transaction: an upload that is too large or not an image changes nothing. The answer is sent
only after the commit and after this server's search index has applied it, so a search that
follows sees the new images. Writes need a key with write scope (``auth``).
"""

from __future__ import annotations

import hashlib
import logging
from typing import List, Optional

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile

from siamkit.gallery.keys import ApiKey
from siamkit.gallery.records import MAX_PAGE, NewItem, check_label, check_metadata
from siamkit.service.auth import read_access, write_access
from siamkit.service.schemas import (
    AUTH_ERRORS, ERRORS, EnrollResult, GalleryItem, GalleryLabels, GalleryPage, LabelCount, RemoveResult,
)
from siamkit.service.settings import MAX_EMBED_IMAGES
from siamkit.service.state import ServiceState, service_state
from siamkit.service.uploads import UploadTooLarge, upload_name

log = logging.getLogger("siamkit")

gallery_router = APIRouter()

NO_STORE = "no gallery store is loaded; start the server with --gallery STORE (an SQLite file or a postgresql:// URL) to enroll"


def _live(state: ServiceState):
    if state.gallery is None:
        raise HTTPException(409, NO_STORE)
    return state.gallery


async def _catch_up(state: ServiceState, live) -> None:
    """Apply the write just committed to this server's index. It is committed whatever happens
    here: a failure to read it back is logged (the poll thread applies it later), never answered
    as a failed write, which a client would retry into a duplicate."""
    try:
        await state.in_store_thread(live.catch_up)
    except Exception as exc:  # noqa: BLE001 - the write stands; say why the index lags
        log.warning("gallery store %s: committed, but not yet in this server's index (%s)", live.store.location, exc)


def _image_url(request: Request, item_id: int) -> str:
    return f"{request.scope.get('root_path', '').rstrip('/')}/v1/gallery/{item_id}"


@gallery_router.post(
    "/v1/gallery", response_model=EnrollResult, status_code=201, responses={**ERRORS, **AUTH_ERRORS}, tags=["gallery"]
)
async def enroll(
    request: Request,
    images: List[UploadFile] = File(..., description=f"One or more images of one identity (repeat the field, at most {MAX_EMBED_IMAGES})."),
    label: str = Form(..., description="The identity's name."),
    metadata: str = Form("", description='Optional JSON object kept with each image, such as {"camera": "north gate"}.'),
    key: ApiKey = Depends(write_access),
) -> EnrollResult:
    """Add images to the gallery under ``label``: all of them, or (on any error) none."""
    state = service_state(request)
    live = _live(state)
    if len(images) > MAX_EMBED_IMAGES:
        raise UploadTooLarge(f"{len(images)} images in one request; send at most {MAX_EMBED_IMAGES}")
    label, extra = check_label(label), check_metadata(metadata)
    contents, embeddings = await state.read_and_embed([(f"images[{i}]", image) for i, image in enumerate(images)])
    items = [
        NewItem(label, embedding, data, upload_name(image), hashlib.sha256(data).hexdigest(), extra)
        for image, data, embedding in zip(images, contents, embeddings)
    ]
    ids = await state.in_store_thread(live.store.add, items)
    await _catch_up(state, live)
    log.info("gallery: key %s enrolled %d image(s) as %r (ids %s)", key.name, len(ids), label, ", ".join(map(str, ids)))
    return EnrollResult(ids=ids, label=label, gallery_size=len(live))


@gallery_router.delete(
    "/v1/gallery/{item_id}", response_model=RemoveResult, responses={**ERRORS, **AUTH_ERRORS}, tags=["gallery"]
)
async def remove(request: Request, item_id: int, key: ApiKey = Depends(write_access)) -> RemoveResult:
    """Remove one image from the gallery; searches stop returning it at once."""
    state = service_state(request)
    live = _live(state)
    if not 0 < item_id < 2**63:
        raise HTTPException(404, f"no gallery image with id {item_id}")
    removed = await state.in_store_thread(live.store.remove, [item_id])
    if not removed:
        raise HTTPException(404, f"no gallery image with id {item_id}")
    await _catch_up(state, live)
    log.info("gallery: key %s removed id %d", key.name, item_id)
    return RemoveResult(removed=item_id, gallery_size=len(live))


@gallery_router.get("/v1/gallery", response_model=GalleryPage, responses={**ERRORS, **AUTH_ERRORS}, tags=["gallery"])
async def browse(
    request: Request,
    label: Optional[str] = Query(None, description="Only this identity's images."),
    offset: int = Query(0, ge=0, le=10**12),
    limit: int = Query(50, ge=1, le=MAX_PAGE),
    _: Optional[ApiKey] = Depends(read_access),
) -> GalleryPage:
    """Enrolled images by id, one page at a time."""
    state = service_state(request)
    store = _live(state).store
    items = await state.in_store_thread(store.list, label, offset, limit)
    total = await state.in_store_thread(store.count, label)
    return GalleryPage(
        items=[GalleryItem(**{key: item[key] for key in ("id", "label", "filename", "metadata", "created_at")}, image_url=_image_url(request, item["id"])) for item in items],
        total=total, offset=offset, limit=limit,
    )


@gallery_router.get("/v1/gallery/labels", response_model=GalleryLabels, responses={**ERRORS, **AUTH_ERRORS}, tags=["gallery"])
async def labels(request: Request, _: Optional[ApiKey] = Depends(read_access)) -> GalleryLabels:
    """Every enrolled identity with its number of images."""
    state = service_state(request)
    live = _live(state)
    counts = await state.in_store_thread(live.store.labels)
    return GalleryLabels(labels=[LabelCount(label=name, count=count) for name, count in counts], gallery_size=len(live))
