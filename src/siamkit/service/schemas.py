"""The JSON the endpoints answer with, as pydantic models (they also make the OpenAPI docs)."""

from __future__ import annotations

from typing import List

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
    siamkit_version: str
    max_upload_mb: float
    max_k: int
    max_embed_images: int
    batching: dict


class ErrorMessage(BaseModel):
    detail: str


ERRORS = {status: {"model": ErrorMessage} for status in (400, 404, 409, 413, 415)}
