"""``bce``: the one loss of our own, binary cross-entropy on the network's pair head scores."""

from __future__ import annotations

from siamkit.losses.registry import LOSSES


@LOSSES.register("bce", default_margin=0.0, pair_head=True)
def bce(**_):
    """``None``: the training step calls :func:`bce_pair_loss` with the network's pair head."""
    return None


def bce_pair_loss(pair_head, embeddings, indices_tuple):
    """Binary cross-entropy on positive and negative pairs, each class weighted to half."""
    import torch
    from torch.nn import functional as F

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
