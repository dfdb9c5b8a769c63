"""``SiameseModel``: the one object for using a trained model folder.

The CLI, the web service, the evaluation and the benchmarks all go through it, so "how alike
are these two images" has exactly one implementation: embed with the folder's own
preprocessing, Euclidean distance between unit vectors, the folder's validation threshold.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from siamkit.data.images import ImageInput
from siamkit.models.model_folder import ModelConfig, load_model_weights, model_identity, read_model_config
from siamkit.models.network import SiameseNetwork


@dataclass(frozen=True)
class Comparison:
    distance: float
    similarity: float
    same: bool
    threshold: float

    def to_dict(self) -> dict:
        return {"distance": self.distance, "similarity": self.similarity, "same": self.same, "threshold": self.threshold}


def distance_to_similarity(distance: np.ndarray | float) -> np.ndarray | float:
    """(1 + cosine) / 2 for unit vectors, where cosine = 1 - distance^2 / 2; in [0, 1]."""
    return np.clip(1.0 - np.square(distance) / 4.0, 0.0, 1.0)


class SiameseModel:
    def __init__(self, network: SiameseNetwork, config: ModelConfig, folder: Path | None = None, device: str = "cpu", batch_size: int = 64):
        from siamkit.inference.embedder import TorchEmbedder

        self.network = network.eval()
        self.config = config
        self.folder = folder
        self.model_id = model_identity(folder) if folder is not None else "unsaved"
        self._embedder = TorchEmbedder(self.network, config.preprocessing, device, batch_size)
        self.backend = "torch"

    @classmethod
    def load(cls, folder: str | os.PathLike, device: str = "cpu", batch_size: int = 64) -> "SiameseModel":
        folder = Path(folder)
        config, raw = read_model_config(folder)
        network = build_network(config)
        weights = load_model_weights(folder, raw)
        try:
            network.load_state_dict(weights, strict=True)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            from siamkit.errors import SiamkitError

            raise SiamkitError(f"{folder}: weights do not match config.json ({first})") from None
        return cls(network, config, folder, device, batch_size)

    @property
    def threshold(self) -> float:
        return self.config.threshold

    @property
    def embedding_dim(self) -> int:
        return self.config.embedding_dim

    def embed(self, images: Sequence[ImageInput] | ImageInput, progress: bool = False) -> np.ndarray:
        """L2-normalised embeddings, shape (n, D); a single input gives (1, D)."""
        items = list(images) if isinstance(images, (list, tuple)) else [images]
        return self._embedder.embed(items, progress=progress)

    def compare(self, first: ImageInput, second: ImageInput) -> Comparison:
        embeddings = self.embed([first, second])
        distance = float(np.linalg.norm(embeddings[0] - embeddings[1]))
        return Comparison(distance, float(distance_to_similarity(distance)), distance <= self.threshold, self.threshold)

    @torch.inference_mode()
    def embed_tensors(self, images: torch.Tensor) -> np.ndarray:
        """Embeddings of already-preprocessed images (benchmarks, the service's batcher)."""
        return self._embedder.embed_tensors(images)


def build_network(config: ModelConfig) -> SiameseNetwork:
    """The architecture a model folder describes, with no pretrained weights (they come from the folder)."""
    from siamkit.models.backbone import create_backbone

    backbone = create_backbone(config.backbone, "none")
    return SiameseNetwork(backbone, config.embedding_dim, config.hidden_dim, pair_head=config.pair_head)
