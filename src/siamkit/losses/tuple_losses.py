"""Losses over pairs and triplets of a batch, from pytorch-metric-learning."""

from __future__ import annotations

from siamkit.losses.registry import LOSSES


# Seed 000's triplet margin was 1.0.
@LOSSES.register("triplet", default_margin=1.0, uses_margin=True, tuples="triplets")
def triplet(margin: float, **_):
    from pytorch_metric_learning import distances, losses

    return losses.TripletMarginLoss(margin=margin, distance=distances.LpDistance(normalize_embeddings=True))


# The negative margin follows seed 004's middle value.
@LOSSES.register("contrastive", default_margin=0.5, uses_margin=True)
def contrastive(margin: float, **_):
    from pytorch_metric_learning import losses

    return losses.ContrastiveLoss(pos_margin=0.0, neg_margin=margin)


# The margin is only read by a semi-hard miner; the loss has alpha, beta and base instead.
@LOSSES.register("multi-similarity", default_margin=0.1)
def multi_similarity(**_):
    from pytorch_metric_learning import losses

    return losses.MultiSimilarityLoss(alpha=2, beta=50, base=0.5)
