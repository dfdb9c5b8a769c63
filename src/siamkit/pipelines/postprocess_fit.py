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
from siamkit.io.terminal import progress_mode
from siamkit.models.features import fit_postprocess, postprocess_dim
from siamkit.models.network import SiameseNetwork
from siamkit.training.config import TrainConfig

log = logging.getLogger("siamkit")


# head "auto" fits this candidate beside the trained head where the training set is this small
# (it embeds every training image once, mirrored too): on AT&T faces (26 training subjects) it
# beat every fine-tuning recipe measured; on 5 digit classes it lost to fine-tuning.
CLOSED_FORM_MAX_IMAGES = 5000
CLOSED_FORM = {"head": "none", "feature_grid": 2, "flip_average": True, "postprocess": "whiten", "postprocess_dim": 1024,
               "whiten_shrink": 0.1}
CLOSED_FORM_BLOCKS_FROM_END = 3  # block 4 of EfficientNet-Lite0's 7


def fitted_head(config: TrainConfig) -> str:
    """The head the network is built with: "auto" trains the MLP head."""
    return "mlp" if config.head == "auto" else config.head


def network_layout(config: TrainConfig) -> dict:
    """The :class:`SiameseNetwork` keywords a training config asks for (the map comes later)."""
    return {"head": fitted_head(config), "feature_block": config.feature_block, "feature_grid": config.feature_grid,
            "flip_average": config.flip_average, "zoom_average": config.zoom_average}


def describe_embedding(config: TrainConfig) -> str:
    """``block 4 features on a 2x2 grid, ..., PCA-whitened ...`` (for the plan)."""
    source = "pooled backbone features" if config.feature_block < 0 else f"block {config.feature_block} features"
    if config.feature_block >= 0 and config.feature_grid > 1:
        source += f" on a {config.feature_grid}x{config.feature_grid} grid"
    parts = [source, "no head (nothing trained)" if config.head == "none" else "trained MLP head"]
    if config.flip_average:
        parts.append("averaged with the mirror image")
    if config.zoom_average:
        parts.append(f"averaged with the centre {config.zoom_average:.0%} scaled up")
    if config.postprocess == "whiten":
        parts.append(f"PCA-whitened on the training identities (at most {config.postprocess_dim} directions, "
                     f"shrinkage {config.whiten_shrink:g})")
    elif config.postprocess == "center":
        parts.append("centred on the training identities")
    if config.head == "auto":
        parts.append(f"or, with up to {CLOSED_FORM_MAX_IMAGES} training images, the closed-form embedding if it scores "
                     "higher on the validation identities")
    return ", ".join(parts)


def calibration_embedder(network, preprocessing: Preprocessing, batch_size: int):
    """The embedder the threshold is chosen with: the one ``SiameseModel`` serves with.

    ``SiameseModel``'s torch backend is this same :class:`TorchEmbedder` (float32 on every
    device), and its onnxruntime backend, the default on a CPU, agrees with it within 1e-5
    (tests/inference/test_one_embedding_path.py), so the threshold holds wherever it is served.
    """
    from siamkit.inference.embedder import TorchEmbedder

    return TorchEmbedder(network, preprocessing, "cpu", batch_size=batch_size)


def attach_postprocess(network: SiameseNetwork, preprocessing: Preprocessing, train_set: ImageDataset, config: TrainConfig) -> None:
    """Fit ``config.postprocess`` on the training images' embeddings and attach it to ``network``."""
    if config.postprocess == "none":
        return
    network.postprocess = None
    embedder = calibration_embedder(network, preprocessing, config.batch_size)
    embeddings = embedder.embed([r.path for r in train_set.records], progress=progress_mode(), description="post-processing fit")
    # whitening keeps at most one direction fewer than the training images it is fitted on
    dim = postprocess_dim(config.postprocess, embeddings.shape[1], config.postprocess_dim, len(embeddings) - 1)
    mean, matrix = fit_postprocess(embeddings, config.postprocess, dim, config.whiten_shrink)
    network.set_postprocess(torch.from_numpy(mean), torch.from_numpy(matrix))
    log.info("post-processing: %s fitted on %d training images -> %d-d", config.postprocess, len(embeddings), dim)


def closed_form_config(config: TrainConfig, backbone_blocks: int) -> TrainConfig | None:
    """The closed-form candidate's settings for ``config`` (None where the backbone has no blocks)."""
    import dataclasses

    if backbone_blocks < CLOSED_FORM_BLOCKS_FROM_END + 1:
        return None
    # mirror averaging only where mirror images are the same identity (the training augmentation's
    # choice): a "b" is not a "d"
    layout = {**CLOSED_FORM, "flip_average": CLOSED_FORM["flip_average"] and config.horizontal_flip}
    return dataclasses.replace(config, feature_block=backbone_blocks - CLOSED_FORM_BLOCKS_FROM_END, **layout)


def choose_embedding(trained, config: TrainConfig, preprocessing: Preprocessing, train_set: ImageDataset, score):
    """For head "auto": the trained network or the closed-form one, whichever scores higher.

    ``trained`` is (network, config, threshold, validation ROC AUC) of the trained head;
    ``score(network)`` gives (threshold, validation ROC AUC) through the calibration embedder.
    Returns the same tuple for the one kept, and logs both scores.
    """
    from siamkit.models.features import block_count

    network, _, _, trained_auc = trained
    if config.head != "auto" or network.pair_head is not None:  # a pair head needs the trained embedding
        return trained
    if len(train_set.records) > CLOSED_FORM_MAX_IMAGES:
        log.info("head auto: %d training images (over %d): the trained head is kept without trying the closed-form embedding",
                 len(train_set.records), CLOSED_FORM_MAX_IMAGES)
        return trained
    candidate_config = closed_form_config(config, block_count(network.backbone))
    if candidate_config is None:
        log.info("head auto: %s has no blocks to take features from: the trained head is kept", config.backbone)
        return trained
    candidate = SiameseNetwork.create(config.backbone, config.pretrained, **network_layout(candidate_config)).eval()
    attach_postprocess(candidate, preprocessing, train_set, candidate_config)
    threshold, auc = score(candidate)
    log.info("head auto: validation ROC AUC %.4f trained head, %.4f closed-form embedding (%s): keeping the %s",
             trained_auc, auc, describe_embedding(candidate_config), "closed-form embedding" if auc > trained_auc else "trained head")
    if auc > trained_auc:
        return candidate, candidate_config, threshold, auc
    return trained
