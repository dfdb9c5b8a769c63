"""``--sampling fixed``: a seeded list of balanced pairs or triplets, shuffled each epoch."""

from __future__ import annotations

from siamkit.sampling.fixed import balanced_pairs, fixed_triplets
from siamkit.sampling.registry import SAMPLERS


def _shuffled_loader(dataset, config, loader_options: dict):
    import torch
    from torch.utils.data import DataLoader

    generator = torch.Generator().manual_seed(config.seed)
    return DataLoader(dataset, batch_size=config.batch_size, shuffle=True, drop_last=True, generator=generator, **loader_options)


@SAMPLERS.register("fixed-pairs", mode="fixed", batches="pairs")
def fixed_pair_loader(images, train, config, loader_options: dict):
    from siamkit.sampling.tuple_datasets import PairDataset

    rows = balanced_pairs(images.labels, config.pairs_per_epoch, config.seed)
    return _shuffled_loader(PairDataset(images, rows), config, loader_options)


@SAMPLERS.register("fixed-triplets", mode="fixed", batches="triplets")
def fixed_triplet_loader(images, train, config, loader_options: dict):
    from siamkit.sampling.tuple_datasets import TripletDataset

    rows = fixed_triplets(images.labels, config.pairs_per_epoch, config.seed)
    return _shuffled_loader(TripletDataset(images, rows), config, loader_options)
