"""The fixed map after the network, fitted on the training identities' embeddings.

It runs after training (or instead of it, with ``head: none``), embeds the training images with
the embedder that calibrates and serves, fits the map and attaches it to the network, which then
carries it everywhere it goes: the model folder, ``SiameseModel``, ONNX, the service, evaluation.
Validation and test identities are never seen by the fit.
"""

from __future__ import annotations

import logging

import torch

from siamkit.data.dataset import ImageDataset
from siamkit.data.preprocessing import Preprocessing
from siamkit.models.features import fit_postprocess, postprocess_dim
from siamkit.models.network import SiameseNetwork
from siamkit.training.config import TrainConfig

log = logging.getLogger("siamkit")


def network_layout(config: TrainConfig) -> dict:
    """The :class:`SiameseNetwork` keywords a training config asks for (the map comes later)."""
    return {"head": config.head, "feature_block": config.feature_block, "feature_grid": config.feature_grid,
            "flip_average": config.flip_average}


def describe_embedding(config: TrainConfig) -> str:
    """``block 4 features on a 2x2 grid, mirror-averaged, whitened to 128-d`` (for the plan)."""
    source = "pooled backbone features" if config.feature_block < 0 else f"block {config.feature_block} features"
    if config.feature_block >= 0 and config.feature_grid > 1:
        source += f" on a {config.feature_grid}x{config.feature_grid} grid"
    parts = [source, "trained MLP head" if config.head == "mlp" else "no head (nothing trained)"]
    if config.flip_average:
        parts.append("averaged with the mirror image")
    if config.postprocess == "whiten":
        parts.append(f"PCA-whitened to {config.postprocess_dim}-d on the training identities")
    elif config.postprocess == "center":
        parts.append("centred on the training identities")
    return ", ".join(parts)


def attach_postprocess(network: SiameseNetwork, preprocessing: Preprocessing, train_set: ImageDataset, config: TrainConfig) -> None:
    """Fit ``config.postprocess`` on the training images' embeddings and attach it to ``network``."""
    if config.postprocess == "none":
        return
    from siamkit.inference.embedder import TorchEmbedder

    network.postprocess = None
    embedder = TorchEmbedder(network, preprocessing, "cpu", batch_size=config.batch_size)
    embeddings = embedder.embed([r.path for r in train_set.records], progress=True, description="post-processing fit")
    # whitening keeps at most one direction fewer than the training images it is fitted on
    dim = postprocess_dim(config.postprocess, embeddings.shape[1], config.postprocess_dim, len(embeddings) - 1)
    mean, matrix = fit_postprocess(embeddings, config.postprocess, dim)
    network.set_postprocess(torch.from_numpy(mean), torch.from_numpy(matrix))
    log.info("post-processing: %s fitted on %d training images -> %d-d", config.postprocess, len(embeddings), dim)
