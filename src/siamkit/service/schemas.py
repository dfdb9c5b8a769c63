"""The JSON the endpoints answer with, as pydantic models (they also make the OpenAPI docs)."""

from __future__ import annotations

from typing import Any, Dict, List

from pydantic import BaseModel, Field


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
    path: str = Field(description="The gallery image's path relative to the gallery's folder (where the server keeps it stays private).")
    label: str
    similarity: float = Field(description="(1 + cosine) / 2, in [0, 1]; a match from the model's threshold in these units (see /v1/model).")
    distance: float = Field(description="Euclidean distance between the unit-length embeddings, in [0, 2].")
    same: bool = Field(description="distance <= threshold: the model's same/different decision, as /v1/compare makes it.")
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
    gallery_store: bool = Field(description="True when the server has a living gallery (enroll with POST /v1/gallery).")
    siamkit_version: str
    max_upload_mb: float
    max_k: int
    max_embed_images: int
    batching: dict


class ErrorMessage(BaseModel):
    detail: str


ERRORS = {status: {"model": ErrorMessage} for status in (400, 404, 409, 413, 415)}


# -- the living gallery (siamkit serve --gallery STORE) ------------------------------------------

class EnrollResult(BaseModel):
    ids: List[int] = Field(description="The new items' ids, in upload order; this server searches them as soon as this answer is sent, other servers and workers on the same store within about 0.25 s.")
    label: str
    gallery_size: int


class GalleryItem(BaseModel):
    id: int
    label: str
    filename: str = Field(description="The uploaded file's name, as the client sent it.")
    metadata: Dict[str, Any]
    created_at: float = Field(description="Enrollment time, seconds since 1970 (UTC).")
    image_url: str


class GalleryPage(BaseModel):
    items: List[GalleryItem]
    total: int = Field(description="Items with this label (or in the whole gallery), over every page.")
    offset: int
    limit: int


class LabelCount(BaseModel):
    label: str
    count: int


class GalleryLabels(BaseModel):
    labels: List[LabelCount]
    gallery_size: int


class RemoveResult(BaseModel):
    removed: int
    gallery_size: int


AUTH_ERRORS = {status: {"model": ErrorMessage} for status in (401, 403)}
