"""Few-shot episodes as training batches: N classes, K support + Q query images of each.

An episode is the task N-way K-shot evaluation sets (Vinyals et al. 2016; Snell et al. 2017):
the prototypical loss (:mod:`siamkit.losses.episodic`) reads the first K images of each class in
the batch as its support and the rest as queries. With ``episodes_within_group`` (a fraction of
episodes, 0 to 1) an episode's classes all come from one group, so training practises what the
within-alphabet one-shot test asks: telling apart look-alike characters of one alphabet.
"""

from __future__ import annotations

import logging

import numpy as np

from siamkit.errors import SiamkitError
from siamkit.sampling.registry import SAMPLERS, refuse_under_torchrun

log = logging.getLogger("siamkit")


class EpisodeBatchSampler:
    """Yields lists of dataset indices, ``ways`` classes x ``shots + queries`` images, class by class.

    ``labels``: a class per image; ``groups``: a group per image (or None). Only classes with at
    least ``shots + queries`` images take part (no image is both support and query); a group with
    fewer eligible classes than ``ways`` gives smaller within-group episodes. Seeded, and one epoch
    covers about as many images as the dataset has.
    """

    def __init__(self, labels, groups, ways: int, shots: int, queries: int, within_group: float, seed: int = 0, batches: int | None = None):
        labels = np.asarray(labels)
        self.per_class = int(shots) + int(queries)
        self.images_of = {int(c): np.flatnonzero(labels == c) for c in np.unique(labels)}
        eligible = np.array(sorted(c for c, rows in self.images_of.items() if len(rows) >= self.per_class))
        if len(eligible) < 2:
            raise SiamkitError(
                f"sampling episodes: {len(eligible)} training class(es) have {self.per_class}+ images "
                f"(episode_shots + episode_queries); need at least 2"
            )
        self.classes = eligible
        self.ways = min(int(ways), len(eligible))
        if self.ways < int(ways):
            log.info("episodes: only %d classes with %d+ images; %d-way episodes", len(eligible), self.per_class, self.ways)
        self.within_group = float(within_group)
        self.group_classes: list[np.ndarray] = []
        if self.within_group > 0:
            if groups is None or any(g in ("", None) for g in groups):
                raise SiamkitError("episodes_within_group: needs every training identity inside a group folder")
            group_array = np.asarray(groups)
            first_group = {c: group_array[self.images_of[c][0]] for c in eligible}
            by_group: dict = {}
            for c in eligible:
                by_group.setdefault(first_group[c], []).append(c)
            self.group_classes = [np.asarray(v) for v in by_group.values() if len(v) >= 2]
            if not self.group_classes:
                raise SiamkitError("episodes_within_group: no group has 2 classes with enough images")
        self.batches = int(batches) if batches else max(1, len(labels) // (self.ways * self.per_class))
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.batches

    def __iter__(self):
        for _ in range(self.batches):
            if self.group_classes and self.rng.random() < self.within_group:
                pool = self.group_classes[self.rng.integers(len(self.group_classes))]
            else:
                pool = self.classes
            chosen = self.rng.choice(pool, size=min(self.ways, len(pool)), replace=False)
            batch = [self.rng.choice(self.images_of[int(c)], size=self.per_class, replace=False) for c in chosen]
            yield np.concatenate(batch).tolist()


@SAMPLERS.register("episodes")
def episode_loader(images, train, config, loader_options: dict):
    """``--sampling episodes``: batches of ``episode_ways`` classes x (``episode_shots`` +
    ``episode_queries``) images, for the prototypical loss."""
    from torch.utils.data import DataLoader

    groups = getattr(images, "groups", None)
    refuse_under_torchrun("sampling episodes: not supported under torchrun yet; train in one process")
    sampler = EpisodeBatchSampler(
        images.labels, groups, config.episode_ways, config.episode_shots, config.episode_queries,
        config.episodes_within_group, seed=config.seed,
    )
    return DataLoader(images, batch_sampler=sampler, **loader_options)
