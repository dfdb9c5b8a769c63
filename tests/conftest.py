"""Tiny generated datasets, so the suite needs neither ../shared nor a network.

Each identity is a random blocky pattern; its images are noisy, shifted copies, which a small
network can learn to tell apart within a couple of epochs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

TINY_BACKBONE = "resnet10t"  # small timm model, random init: fast enough for CPU tests


def make_identity_images(folder: Path, identities: int = 6, per_identity: int = 4, size: int = 32, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for identity in range(identities):
        base = rng.integers(0, 256, size=(4, 4, 3)).astype(np.float64)
        pattern = np.kron(base, np.ones((size // 4, size // 4, 1)))
        target = folder / f"id_{identity:02d}"
        target.mkdir(parents=True, exist_ok=True)
        for index in range(per_identity):
            noisy = pattern + rng.normal(0, 12, pattern.shape)
            shifted = np.roll(noisy, shift=int(rng.integers(-2, 3)), axis=1)
            Image.fromarray(np.clip(shifted, 0, 255).astype(np.uint8)).save(target / f"img_{index}.png")
    return folder


@pytest.fixture
def tiny_dataset(tmp_path) -> Path:
    return make_identity_images(tmp_path / "data", identities=8, per_identity=4)


def tiny_train_settings(**extra) -> dict:
    settings = {
        "backbone": TINY_BACKBONE,
        "pretrained": "none",
        "image_size": 32,
        "embedding_dim": 16,
        "hidden_dim": 32,
        "batch_size": 8,
        "m_per_class": 2,
        "max_epochs": 1,
        "trainable_stages": -1,
        "split": "0.5,0.25,0.25",
        "workers": 0,
        "pairs_per_epoch": 16,
        "evaluate": False,
        "ways": "2",
        "episodes": 20,
    }
    settings.update(extra)
    return settings
