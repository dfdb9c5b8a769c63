"""The Siamese network: one shared backbone and head applied to every image.

"Siamese" just means both (or all three) images go through the same weights, so a single
``forward`` that embeds a batch is all training and inference need; pairs and triplets are index
lists into that batch.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from siamkit.models.backbone import create_backbone, input_channels, set_trainable_stages, trains_from_scratch
from siamkit.models.features import BlockFeatures, LinearPostprocess
from siamkit.models.heads import EmbeddingHead, PairHead
from siamkit.models.layout import HEADS  # noqa: F401  (re-exported)


def _zoom_matrix(size: int, fraction: float) -> torch.Tensor:
    """(size x size) weights that take the centre ``fraction`` of a line of ``size`` pixels and scale it
    back to ``size`` pixels, as bilinear interpolation without antialiasing does (align_corners False)."""
    crop = max(1, round(size * fraction))
    start = (size - crop) // 2
    source = np.clip((np.arange(size) + 0.5) * crop / size - 0.5, 0, crop - 1)
    low = np.floor(source).astype(int)
    high = np.minimum(low + 1, crop - 1)
    weight = source - low
    matrix = np.zeros((size, size), dtype=np.float32)
    np.add.at(matrix, (np.arange(size), start + low), 1 - weight)
    np.add.at(matrix, (np.arange(size), start + high), weight)
    return torch.from_numpy(matrix)


def centre_zoom(images: torch.Tensor, fraction: float) -> torch.Tensor:
    """The centre ``fraction`` of each side of a batch of images, scaled back to their size.

    Two matrix products with fixed weights rather than a crop and a resize: ONNX exports them with
    every shape known, which the layers after it (grid pooling) need.
    """
    rows = _zoom_matrix(int(images.shape[-2]), fraction).to(images.dtype)
    columns = _zoom_matrix(int(images.shape[-1]), fraction).to(images.dtype)
    return torch.matmul(torch.matmul(rows, images), columns.t())


class SiameseNetwork(nn.Module):
    def __init__(
        self,
        backbone: nn.Module,
        embedding_dim: int = 128,
        hidden_dim: int = 512,
        pair_head: bool = False,
        head: str = "mlp",
        feature_block: int = -1,
        feature_grid: int = 1,
        flip_average: bool = False,
        postprocess_dim: int = 0,
        zoom_average: float = 0.0,
    ):
        """``head`` "none" embeds the (L2-normalised) features themselves, nothing trained;
        ``flip_average`` averages each image's features with its mirror image outside training;
        ``zoom_average`` (a fraction such as 0.9, 0 for none) also averages them with those of the
        image's centre part, that fraction of each side, scaled back up, outside training;
        ``postprocess_dim`` > 0 adds the fixed map fitted on training identities (see
        :mod:`siamkit.models.features`), taking the head's output to that many dimensions."""
        super().__init__()
        self.backbone = backbone
        self.in_chans = input_channels(backbone)  # 1: grey-scale native, 3: RGB
        self.features = BlockFeatures(feature_block, feature_grid)
        self.feature_dim = self.features.size(backbone)
        self.flip_average = bool(flip_average)
        self.zoom_average = float(zoom_average)
        self.head = EmbeddingHead(self.feature_dim, embedding_dim, hidden_dim) if head == "mlp" else None
        self.head_dim = embedding_dim if head == "mlp" else self.feature_dim
        self.postprocess = LinearPostprocess(self.head_dim, postprocess_dim) if postprocess_dim else None
        self.pair_head = PairHead(postprocess_dim or self.head_dim) if pair_head else None
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
        **layout,
    ) -> "SiameseNetwork":
        """``layout``: head, feature_block, feature_grid, flip_average, postprocess_dim (see __init__)."""
        network = cls(create_backbone(backbone_name, pretrained), embedding_dim, hidden_dim, pair_head, **layout)
        if trains_from_scratch(backbone_name) and str(pretrained) in ("auto", "none"):  # nothing pretrained to protect
            trainable_stages, freeze_bn_stats = -1, False
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

    @property
    def embedding_dim(self) -> int:
        return self.postprocess.matrix.shape[1] if self.postprocess is not None else self.head_dim

    def set_postprocess(self, mean: torch.Tensor, matrix: torch.Tensor) -> None:
        """Attach the fixed map (fitted on the training identities' embeddings)."""
        self.postprocess = LinearPostprocess(matrix.shape[0], matrix.shape[1])
        self.postprocess.mean.copy_(torch.as_tensor(mean))
        self.postprocess.matrix.copy_(torch.as_tensor(matrix))

    def embed_features(self, images: torch.Tensor) -> torch.Tensor:
        """The head's L2-normalised output, before the post-processing map."""
        features = self._view_features(images)
        if self.zoom_average and not self.training:
            features = (features + self._view_features(centre_zoom(images, self.zoom_average))) / 2
        if self.head is None:
            return F.normalize(features, dim=1)
        return self.head(features)

    def _view_features(self, images: torch.Tensor) -> torch.Tensor:
        features = self.features(self.backbone, images)
        if self.flip_average and not self.training:
            features = (features + self.features(self.backbone, images.flip(-1))) / 2
        return features

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised embeddings of a batch of preprocessed images."""
        embeddings = self.embed_features(images)
        return self.postprocess(embeddings) if self.postprocess is not None else embeddings
