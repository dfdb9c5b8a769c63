"""The Siamese network: one shared backbone and head applied to every image.

"Siamese" just means both (or all three) images go through the same weights, so a single
``forward`` that embeds a batch is all training and inference need; pairs and triplets are index
lists into that batch.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from siamkit.models.backbone import create_backbone, set_trainable_stages
from siamkit.models.heads import EmbeddingHead, PairHead


class SiameseNetwork(nn.Module):
    def __init__(
        self,
        backbone: nn.Module,
        embedding_dim: int = 128,
        hidden_dim: int = 512,
        pair_head: bool = False,
    ):
        super().__init__()
        self.backbone = backbone
        self.head = EmbeddingHead(backbone.num_features, embedding_dim, hidden_dim)
        self.pair_head = PairHead(embedding_dim) if pair_head else None
        self._frozen_bn: list[nn.Module] = []

    @classmethod
    def create(
        cls,
        backbone_name: str,
        pretrained: str | os.PathLike = "auto",
        embedding_dim: int = 128,
        hidden_dim: int = 512,
        pair_head: bool = False,
        trainable_stages: int = -1,
        freeze_bn_stats: bool = True,
    ) -> "SiameseNetwork":
        network = cls(create_backbone(backbone_name, pretrained), embedding_dim, hidden_dim, pair_head)
        network.freeze_backbone_stages(trainable_stages, freeze_bn_stats)
        return network

    def freeze_backbone_stages(self, trainable_stages: int, freeze_bn_stats: bool = True) -> None:
        """Train only the last ``trainable_stages`` stages; keep BatchNorm statistics fixed.

        With ``freeze_bn_stats`` every backbone BatchNorm layer keeps its ImageNet running
        statistics (its scale and shift still train). Measured on AT&T faces: updating them over
        eight small M-per-class batches, without a single gradient step, dropped the validation
        ROC AUC of the raw features from 0.966 to 0.936.
        """
        frozen = set(set_trainable_stages(self.backbone, trainable_stages))
        prefixes = {name.rsplit(".", 1)[0] for name in frozen}
        self._frozen_bn = [
            module
            for name, module in self.backbone.named_modules()
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and (freeze_bn_stats or name in prefixes)
        ]

    def train(self, mode: bool = True) -> "SiameseNetwork":
        super().train(mode)
        self.keep_frozen_batchnorm_in_eval()
        return self

    def keep_frozen_batchnorm_in_eval(self) -> None:
        for module in self._frozen_bn:  # frozen layers keep their ImageNet statistics
            module.eval()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised embeddings of a batch of preprocessed images."""
        return self.head(self.backbone(images))
