"""Losses that learn a weight (a proxy) per training class, from pytorch-metric-learning.

They read class labels, not mined tuples: no miner runs with them, and they suit data with many
images per class (Fashion-MNIST's 6,000) or many classes, where pair losses see few informative
pairs per batch. Their proxies know only the training classes, so validation scores the
embeddings, never the loss. The margin's unit is each loss's own (degrees for the ArcFace family,
cosine for ProxyAnchor); NormalizedSoftmax has none.
"""

from __future__ import annotations

from siamkit.losses.registry import LOSSES


@LOSSES.register("arcface", default_margin=28.6, uses_margin=True, class_level=True)
def arcface(margin: float, embedding_dim: int, num_classes: int, **_):
    """Deng et al. (2019): an additive angular margin (degrees) on the true class's logit."""
    from pytorch_metric_learning import losses

    return losses.ArcFaceLoss(num_classes=num_classes, embedding_size=embedding_dim, margin=margin)


@LOSSES.register("sub-center-arcface", default_margin=28.6, uses_margin=True, class_level=True)
def sub_center_arcface(margin: float, embedding_dim: int, num_classes: int, **_):
    """Deng et al. (2020): ArcFace with 3 sub-centres per class, robust to mislabelled images."""
    from pytorch_metric_learning import losses

    return losses.SubCenterArcFaceLoss(num_classes=num_classes, embedding_size=embedding_dim, margin=margin)


@LOSSES.register("normalized-softmax", class_level=True)
def normalized_softmax(margin: float, embedding_dim: int, num_classes: int, **_):
    """Zhai and Wu (2019): softmax over cosine similarities to one weight per class, temperature
    0.05; no margin."""
    from pytorch_metric_learning import losses

    return losses.NormalizedSoftmaxLoss(num_classes=num_classes, embedding_size=embedding_dim, temperature=0.05)


@LOSSES.register("proxy-anchor", default_margin=0.1, uses_margin=True, class_level=True)
def proxy_anchor(margin: float, embedding_dim: int, num_classes: int, **_):
    """Kim et al. (2020): each class's proxy is an anchor; its positives are pushed above cosine
    ``margin`` and its negatives below ``-margin``, weighted by a soft-max with alpha 32."""
    from pytorch_metric_learning import losses

    return losses.ProxyAnchorLoss(num_classes=num_classes, embedding_size=embedding_dim, margin=margin, alpha=32)
