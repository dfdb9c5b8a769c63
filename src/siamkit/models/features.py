"""What the embedding is computed from: the backbone's pooled output or an earlier block's map,
and the fixed linear map fitted on the training identities (centering or PCA whitening).

Measured on AT&T faces (5 identity folds, untrained EfficientNet-Lite0 at 160 px, settings chosen
on validation subjects and identity-fold cross-validation): the pooled 1280 features give test EER
10.3%; block 4's map pooled on a 2 x 2 grid, averaged with the mirrored image and PCA-whitened
with shrinkage 0.1 on the training subjects gives 3.2%. Where the face is (a grid cell) and which
mid-level parts it has carry more identity than the last block's ImageNet-class features, and
whitening removes the directions that every face shares.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from siamkit.errors import SiamkitError
from siamkit.models.backbone import input_channels
from siamkit.models.layout import POSTPROCESS  # noqa: F401  (re-exported)


def has_blocks(backbone: nn.Module) -> bool:
    """timm's EfficientNet / MobileNet family: ``conv_stem``, ``bn1`` and a ``blocks`` sequence."""
    return all(hasattr(backbone, name) for name in ("conv_stem", "bn1", "blocks"))


def block_count(backbone: nn.Module) -> int:
    return len(backbone.blocks) if has_blocks(backbone) else 0


class BlockFeatures(nn.Module):
    """Block ``block``'s feature map, average-pooled on a ``grid`` x ``grid`` grid and flattened.

    ``block`` -1 means the backbone's own pooled output. The backbone is not owned here (no
    parameters), so the network's state-dict keys stay those of the backbone.
    """

    def __init__(self, block: int = -1, grid: int = 1):
        super().__init__()
        self.block, self.grid = int(block), int(grid)

    def forward(self, backbone: nn.Module, images: torch.Tensor) -> torch.Tensor:
        if self.block < 0:
            return backbone(images)
        x = backbone.bn1(backbone.conv_stem(images))
        for stage in backbone.blocks[: self.block + 1]:
            x = stage(x)
        return F.adaptive_avg_pool2d(x, self.grid).flatten(1)

    def size(self, backbone: nn.Module, image_size: int = 64) -> int:
        if self.block < 0:
            return int(backbone.num_features)
        if not has_blocks(backbone):
            raise SiamkitError(
                f"feature_block {self.block}: backbone {type(backbone).__name__} has no 'blocks' stages "
                "(features of a block work for timm's EfficientNet and MobileNet families); use feature_block -1"
            )
        if self.block >= block_count(backbone):
            raise SiamkitError(f"feature_block {self.block}: the backbone has blocks 0 to {block_count(backbone) - 1}")
        was_training = backbone.training
        backbone.eval()
        with torch.no_grad():
            channels = self.forward(backbone, torch.zeros(1, input_channels(backbone), image_size, image_size)).shape[1]
        backbone.train(was_training)
        return int(channels)


class LinearPostprocess(nn.Module):
    """``normalise((x - mean) @ matrix)``: fixed buffers, saved with the weights, exported to ONNX."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(in_features))
        self.register_buffer("matrix", torch.eye(in_features, out_features))

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return F.normalize((embeddings - self.mean) @ self.matrix, dim=1)


def fit_postprocess(embeddings: np.ndarray, kind: str, dim: int, shrink: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and matrix of ``kind`` fitted on ``embeddings`` (of the training identities only).

    ``whiten`` keeps the top ``dim`` principal directions, each divided by the square root of its
    variance plus ``shrink`` times the mean variance of those kept: ``shrink`` 0 is full whitening
    (with a floor of 1e-6 of the largest variance, so near-empty directions do not explode);
    larger values whiten less the directions that few training images estimate poorly. On AT&T
    faces, shrink 0.1 with every direction kept beat full whitening to 128-d on both the
    validation subjects (EER 3.8 vs 4.6 %) and identity-fold cross-validation (2.9 vs 3.5 %).
    """
    x = np.asarray(embeddings, dtype=np.float64)
    mean = x.mean(0)
    if kind == "center":
        return mean.astype(np.float32), np.eye(x.shape[1], dtype=np.float32)
    if kind != "whiten":
        raise ValueError(f"unknown post-processing {kind!r}")
    _, singular, vt = np.linalg.svd(x - mean, full_matrices=False)
    k = min(dim, len(singular))
    variance = singular[:k] ** 2 / len(x)
    floor = shrink * variance.mean() if shrink > 0 else 1e-6 * variance.max()
    matrix = vt[:k].T / np.sqrt(variance + floor)
    return mean.astype(np.float32), matrix.astype(np.float32)


def postprocess_dim(kind: str, in_features: int, dim: int, images: int | None = None) -> int:
    """The embedding size after ``kind``: whitening keeps at most one direction per training image."""
    if kind != "whiten":
        return in_features
    return min(dim, in_features, images) if images else min(dim, in_features)
