"""What a training run says about itself on the log: its plan at the start, its verdict at the end.

A user who starts a run that will take an hour should see at once which backbone, loss, sampler
and split it is about to use (a recipe or a flag may not do what they thought), and at the end
whether training beat the untrained backbone, which is the question every run answers.
"""

from __future__ import annotations

import logging

from siamkit.data.splits import Split
from siamkit.evaluation.verdict import training_verdict
from siamkit.losses import LOSSES
from siamkit.sampling import SAMPLERS
from siamkit.training.config import TrainConfig
from siamkit.training.losses import miner_is_used

log = logging.getLogger("siamkit")


def _stages(trainable_stages: int) -> str:
    if trainable_stages < 0:
        return "whole backbone trained"
    if trainable_stages == 0:
        return "backbone frozen"
    return f"last {trainable_stages} backbone stage{'s' if trainable_stages != 1 else ''} trained"


def describe_plan(config: TrainConfig, split: Split) -> list[str]:
    """The effective configuration and split sizes, in a few lines a person reads before waiting."""
    loss = f"loss {config.loss}"
    if LOSSES.metadata(config.loss).get("uses_margin"):
        loss += f" (margin {config.effective_margin:g})"
    sampler = f"sampler {config.sampler_name}"
    if config.sampler_name == "episodes":
        sampler += (f" ({config.episode_ways}-way {config.episode_shots}-shot, {config.episode_queries} queries per identity"
                    f"{f', {config.episodes_within_group:.0%} within one group' if config.episodes_within_group else ''})")
    elif SAMPLERS.metadata(config.sampler_name)["batches"] == "labelled":
        mining = f"miner {config.miner}" if miner_is_used(config) else "no miner (the loss reads class labels)"
        sampler += f" with {mining}, {config.m_per_class} images per identity"
    budget = f"up to {config.max_epochs} epoch{'s' if config.max_epochs != 1 else ''}"
    budget += f" or {config.max_time:g} min" if config.max_time else ""
    sizes = ", ".join(
        f"{name} {split.identity_counts.get(name, 0)} identities / {len(split.paths(name))} images"
        for name in ("train", "val", "test")
    )
    from siamkit.pipelines.postprocess_fit import describe_embedding

    if config.head == "none":
        return [
            f"backbone {config.backbone} (pretrained: {config.pretrained}), {config.image_size} px images, nothing trained",
            f"embedding: {describe_embedding(config)}",
            f"{split.protocol} split: {sizes}",
        ]
    from siamkit.models.backbone import trains_from_scratch

    stages = _stages(config.trainable_stages)
    if trains_from_scratch(config.backbone) and config.pretrained in ("auto", "none"):
        stages = "trained from scratch, every layer"
    return [
        f"backbone {config.backbone} (pretrained: {config.pretrained}, {stages}), "
        f"{config.image_size} px images -> {config.embedding_dim}-d embeddings",
        f"embedding: {describe_embedding(config)}",
        f"{loss}, {sampler}" + ("" if config.sampler_name == "episodes" else f", batch size {config.batch_size}"),
        f"{config.optimizer} lr {config.lr:g}, {config.schedule} schedule, {budget}, patience {config.patience}",
        f"{split.protocol} split: {sizes}",
    ]


def log_plan(config: TrainConfig, split: Split) -> None:
    for line in describe_plan(config, split):
        log.info("%s", line)


def log_verdict(metrics: dict) -> None:
    """``test ROC AUC 0.990, untrained 0.940: +0.050`` (or ``...: training did not help``)."""
    verdict = training_verdict(metrics)
    if verdict is not None:
        log.info("%s", verdict)
