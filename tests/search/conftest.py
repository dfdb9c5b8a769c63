"""Tiny synthetic galleries: clustered embeddings with made-up paths, labels and hashes.

Helpers are handed out as fixtures rather than imported, so this folder never depends on which
``conftest`` module Python happens to find first.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from siamkit.search import GalleryIndex

MODEL_ID = "resnet18-test@0123abcd"


def clustered_embeddings(n: int, dim: int = 32, clusters: int = 20, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Unit vectors around ``clusters`` centres, varying in a few directions like real embeddings."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    assignment = rng.integers(0, clusters, size=n)
    spread = rng.normal(size=(dim, 6)) @ rng.normal(size=(6, dim)) / dim
    vectors = centres[assignment] + 0.5 * rng.normal(size=(n, dim)) @ spread + 0.05 * rng.normal(size=(n, dim))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors.astype(np.float32), [f"class{c}" for c in assignment]


def fake_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def gallery_columns(n: int, prefix: str = "img") -> tuple[list[str], list[str]]:
    paths = [f"{prefix}/{i:05d}.jpg" for i in range(n)]
    return paths, [fake_hash(path) for path in paths]


@pytest.fixture
def small_gallery():
    """(embeddings, paths, labels, hashes) for 300 images."""
    embeddings, labels = clustered_embeddings(300)
    paths, hashes = gallery_columns(300)
    return embeddings, paths, labels, hashes


@pytest.fixture
def build(small_gallery):
    def _build(kind: str = "exact", **params) -> GalleryIndex:
        embeddings, paths, labels, hashes = small_gallery
        return GalleryIndex.build(embeddings, paths, labels, hashes, MODEL_ID, kind=kind, **params)

    return _build


@pytest.fixture
def model_id() -> str:
    return MODEL_ID


@pytest.fixture
def make_embeddings():
    return clustered_embeddings


@pytest.fixture
def make_columns():
    return gallery_columns
