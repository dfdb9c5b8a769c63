"""Losses that learn a weight per training class (the margin is angular, in degrees)."""

from __future__ import annotations

from siamkit.losses.registry import LOSSES


@LOSSES.register("arcface", default_margin=28.6, uses_margin=True, class_level=True)
def arcface(margin: float, embedding_dim: int, num_classes: int, **_):
    from pytorch_metric_learning import losses

    return losses.ArcFaceLoss(num_classes=num_classes, embedding_size=embedding_dim, margin=margin)
