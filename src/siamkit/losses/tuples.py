"""Pairs and triplets of a class-labelled batch, in the shape each loss reads."""

from __future__ import annotations

import torch
from pytorch_metric_learning.utils import loss_and_miner_utils as lmu

from siamkit.losses.registry import LOSSES


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
    """Mined (or all) tuples for a class-labelled batch, converted to the loss's ``tuples``
    (pairs or triplets), with same-image positives removed."""
    wants = LOSSES.metadata(loss_name, option="--loss")["tuples"]
    if miner is not None:
        mined = miner(embeddings, labels)
    elif wants == "triplets":
        mined = lmu.get_all_triplets_indices(labels)
    else:
        mined = lmu.get_all_pairs_indices(labels)
    if wants == "pairs" and len(mined) == 3:
        mined = lmu.convert_to_pairs(mined, labels)
    if wants == "triplets" and len(mined) == 4:
        mined = lmu.convert_to_triplets(mined, labels)
    return drop_same_image(mined, image_ids)
