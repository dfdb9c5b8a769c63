"""One place that maps loss and miner names to pytorch-metric-learning classes.

All losses share pytorch-metric-learning's call ``loss(embeddings, labels, indices_tuple)``, so
the training step is the same for pairs, triplets and class-labelled batches. ``bce`` is the one
loss of our own: it scores pairs with the network's pair head.
"""

from __future__ import annotations

import torch
from pytorch_metric_learning import distances, losses, miners
from pytorch_metric_learning.utils import loss_and_miner_utils as lmu
from torch.nn import functional as F

from siamkit.errors import SiamkitError


def build_loss(name: str, margin: float, embedding_dim: int, num_classes: int):
    """The loss module for ``name``; ``None`` for bce, which the training step computes itself."""
    if name == "triplet":
        return losses.TripletMarginLoss(margin=margin, distance=distances.LpDistance(normalize_embeddings=True))
    if name == "contrastive":
        return losses.ContrastiveLoss(pos_margin=0.0, neg_margin=margin)
    if name == "multi-similarity":
        return losses.MultiSimilarityLoss(alpha=2, beta=50, base=0.5)
    if name == "arcface":
        return losses.ArcFaceLoss(num_classes=num_classes, embedding_size=embedding_dim, margin=margin)
    if name == "bce":
        return None
    raise SiamkitError(f"--loss '{name}' is unknown")


def build_miner(name: str, margin: float):
    """``all`` means no miner: every valid pair/triplet in the batch is used."""
    if name == "batch-hard":
        return miners.BatchHardMiner()
    if name == "semi-hard":
        return miners.TripletMarginMiner(margin=margin if margin > 0 else 0.2, type_of_triplets="semihard")
    if name == "all":
        return None
    raise SiamkitError(f"--miner '{name}' is unknown")


def miner_is_used(config) -> bool:
    """Whether ``config.miner`` changes training: only online batches are mined, and ArcFace
    learns from class labels without tuples."""
    return config.sampling == "online" and config.loss != "arcface"


def margin_is_used(config) -> bool:
    """Whether ``config.margin`` changes training: the margin losses use it, multi-similarity and
    bce do not (only the semi-hard miner, where it runs, mines with it)."""
    if config.loss in ("triplet", "contrastive", "arcface"):
        return True
    return config.miner == "semi-hard" and miner_is_used(config)


def drop_same_image(indices_tuple, image_ids: torch.Tensor):
    """Remove pairs/triplets whose anchor and positive are copies of the same source image.

    The M-per-class sampler repeats images of identities smaller than M; a positive pair made
    of two augmentations of one photo teaches nothing about identity, so it is dropped here.
    """
    if len(indices_tuple) == 3:
        anchor, positive, negative = indices_tuple
        keep = image_ids[anchor] != image_ids[positive]
        result = (anchor[keep], positive[keep], negative[keep])
        assert torch.all(image_ids[result[0]] != image_ids[result[1]])
        return result
    anchor_p, positive, anchor_n, negative = indices_tuple
    keep = image_ids[anchor_p] != image_ids[positive]
    result = (anchor_p[keep], positive[keep], anchor_n, negative)
    assert torch.all(image_ids[result[0]] != image_ids[result[1]])
    return result


def batch_indices(loss_name: str, miner, embeddings: torch.Tensor, labels: torch.Tensor, image_ids: torch.Tensor):
    """Mined (or all) tuples for a class-labelled batch, with same-image positives removed."""
    if miner is not None:
        mined = miner(embeddings, labels)
    elif loss_name == "triplet":
        mined = lmu.get_all_triplets_indices(labels)
    else:
        mined = lmu.get_all_pairs_indices(labels)
    if loss_name in ("contrastive", "bce", "multi-similarity") and len(mined) == 3:
        mined = lmu.convert_to_pairs(mined, labels)
    if loss_name == "triplet" and len(mined) == 4:
        mined = lmu.convert_to_triplets(mined, labels)
    return drop_same_image(mined, image_ids)


def bce_pair_loss(pair_head, embeddings: torch.Tensor, indices_tuple) -> torch.Tensor:
    """Binary cross-entropy on positive and negative pairs, each class weighted to half."""
    anchor_p, positive, anchor_n, negative = indices_tuple
    terms = []
    if len(anchor_p):
        logits = pair_head.logits(embeddings[anchor_p], embeddings[positive])
        terms.append(F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits)))
    if len(anchor_n):
        logits = pair_head.logits(embeddings[anchor_n], embeddings[negative])
        terms.append(F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits)))
    if not terms:
        return embeddings.sum() * 0.0
    return torch.stack(terms).mean()
