"""Heads on top of the backbone's pooled features.

The embedding head is the one the whale-identification seed used (Linear 512 -> BatchNorm ->
ReLU -> Linear D -> L2-normalise): normalised embeddings make distances comparable across
images and let the gallery index use inner product. The pair head is for binary cross-entropy
training, where the network itself decides "same or different" from |e1 - e2|.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class EmbeddingHead(nn.Module):
    def __init__(self, in_features: int, embedding_dim: int = 128, hidden_dim: int = 512):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(in_features, hidden_dim),
            nn.BatchNorm1d(hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, embedding_dim),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.layers(features), dim=1)


class PairHead(nn.Module):
    """Probability that two embeddings show the same identity, from their absolute difference."""

    def __init__(self, embedding_dim: int):
        super().__init__()
        self.linear = nn.Linear(embedding_dim, 1)

    def logits(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        return self.linear((first - second).abs()).squeeze(-1)

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(first, second))
