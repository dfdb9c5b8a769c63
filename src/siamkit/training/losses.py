"""Losses and miners as the training run sees them.

The losses and miners themselves live in :mod:`siamkit.losses` (registries ``LOSSES`` and
``MINERS``); this module re-exports what the training step calls and answers, from the
registries' metadata, which options of a config change training at all.
"""

from __future__ import annotations

from siamkit.losses import LOSSES, MINERS, build_loss, build_miner
from siamkit.losses.pair_head_loss import bce_pair_loss
from siamkit.losses.tuples import batch_indices, drop_same_image
from siamkit.sampling import SAMPLERS

__all__ = [
    "LOSSES", "MINERS", "build_loss", "build_miner", "bce_pair_loss", "batch_indices", "drop_same_image",
    "miner_is_used", "margin_is_used",
]


def miner_is_used(config) -> bool:
    """Whether ``config.miner`` changes training: only class-labelled (online) batches are
    mined, and a class-level loss (ArcFace) learns from class labels without tuples."""
    labelled = SAMPLERS.metadata(config.sampler_name)["batches"] == "labelled"
    return labelled and not LOSSES.metadata(config.loss)["class_level"]


def margin_is_used(config) -> bool:
    """Whether ``config.margin`` changes training: the margin losses use it, multi-similarity and
    bce do not (only a miner that mines with it, semi-hard, where it runs)."""
    if LOSSES.metadata(config.loss)["uses_margin"]:
        return True
    return MINERS.metadata(config.miner)["uses_margin"] and miner_is_used(config)
