"""Online batches of class-labelled images, for mining: M per class, or two groups per batch."""

from __future__ import annotations

import logging

from siamkit.errors import SiamkitError
from siamkit.sampling.registry import SAMPLERS, refuse_under_torchrun

log = logging.getLogger("siamkit")


@SAMPLERS.register("m-per-class", mode="online")
def m_per_class_loader(images, train, config, loader_options: dict):
    """pytorch-metric-learning's MPerClassSampler: ``m_per_class`` images of each identity in a
    batch, so every batch holds positives and negatives to mine."""
    from pytorch_metric_learning.samplers import MPerClassSampler
    from torch.utils.data import DataLoader

    labels = images.labels
    m, batch_size = online_batch_shape(len(set(labels)), config.m_per_class, config.batch_size)
    length = max(len(labels), batch_size * 4)
    length -= length % batch_size
    sampler = MPerClassSampler(labels, m=m, batch_size=batch_size, length_before_new_iter=length)
    return DataLoader(images, batch_size=batch_size, sampler=sampler, drop_last=True, **loader_options)


def online_batch_shape(identities: int, m_per_class: int, batch_size: int) -> tuple[int, int]:
    """Images per identity and batch size for M-per-class batches.

    A batch holds ``batch_size / m`` identities; with fewer training identities than that, take
    more images of each instead (the sampler cannot fill the batch otherwise).
    """
    if identities * m_per_class >= batch_size:
        return m_per_class, batch_size
    m = -(-batch_size // identities)
    adjusted = (batch_size // m) * m
    log.info("only %d training identities: %d images of each per batch of %d", identities, m, adjusted)
    return m, adjusted


@SAMPLERS.register("group-batches", mode="online")
def group_batch_loader(images, train, config, loader_options: dict):
    """Batches drawn from two groups at a time (two Omniglot alphabets, two product categories).

    With M-per-class batches over 20 alphabets, two characters of one alphabet rarely meet in a
    batch, so the model seldom learns what tells look-alike characters apart, which is exactly
    what within-alphabet one-shot tests. pytorch-metric-learning's HierarchicalSampler fills half
    of each batch from each of two groups, ``m_per_class`` images per identity, and walks every
    pair of groups once per epoch (repeated so an epoch still covers about every image once).
    """
    from math import comb

    import numpy as np
    from pytorch_metric_learning.samplers import HierarchicalSampler
    from torch.utils.data import DataLoader

    refuse_under_torchrun("group_batches: not supported under torchrun yet; train in one process or use M-per-class batches")
    groups = images.groups if getattr(images, "groups", None) is not None else [record.group for record in train.records]
    names, group_codes = np.unique(np.asarray(groups), return_inverse=True)
    if len(names) < 2 or "" in names:
        raise SiamkitError(
            f"group_batches: needs every training identity inside a group folder and 2+ groups; found {len(names)}"
        )
    labels = images.labels
    group_codes = group_codes.reshape(-1)
    hierarchy = np.stack([np.asarray(labels), group_codes], axis=1)
    repeats = max(1, round(len(labels) / config.batch_size / comb(len(names), 2)))
    sampler = HierarchicalSampler(
        hierarchy, config.batch_size, config.m_per_class, batches_per_super_tuple=repeats, super_classes_per_batch=2
    )
    return DataLoader(images, batch_sampler=sampler, **loader_options)
