"""Tiny embeddings and images shared by the evaluation tests; all generated, all seeded."""

import numpy as np
import pytest
from PIL import Image


def clustered(identities: int, per_identity: int, noise: float = 0.01, seed: int = 0):
    """Embeddings where each identity sits on its own axis: any sane metric scores them perfectly."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(identities), per_identity)
    embeddings = np.eye(identities)[labels] + noise * rng.normal(size=(len(labels), identities))
    return embeddings.astype(np.float32), labels


def random_embeddings(identities: int, per_identity: int, dims: int = 32, seed: int = 0):
    """Embeddings that carry no identity information at all: metrics should sit at chance."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(identities), per_identity)
    return rng.normal(size=(len(labels), dims)).astype(np.float32), labels


@pytest.fixture
def image_paths(tmp_path):
    """Six small PNGs, two per colour, written to the test's temporary folder."""
    paths = []
    for number, colour in enumerate([(200, 30, 30), (30, 200, 30), (30, 30, 200)] * 2):
        path = tmp_path / "images" / f"img_{number}.png"
        path.parent.mkdir(exist_ok=True)
        Image.new("RGB", (40, 32), colour).save(path)
        paths.append(path)
    return paths
