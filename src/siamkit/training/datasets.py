"""Torch datasets over image paths: single images (online mining), fixed pairs, fixed triplets.

Each item carries its image's index in the split so the loss can tell "two photos of one
identity" from "the same photo twice" (the M-per-class sampler repeats images of small classes).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from siamkit.data.images import load_image


class ImageListDataset(Dataset):
    def __init__(self, paths: Sequence[str], labels: Sequence[int], transform: Callable):
        self.paths = list(paths)
        self.labels = list(labels)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        image = self.transform(load_image(self.paths[index]))
        return image, torch.tensor(self.labels[index]), torch.tensor(index)


class PairDataset(Dataset):
    """Rows of (index_a, index_b, same) from :func:`siamkit.sampling.fixed.balanced_pairs`."""

    def __init__(self, images: ImageListDataset, rows: np.ndarray):
        self.images = images
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int):
        first, second, _ = self.rows[index]
        return tuple(zip(self.images[int(first)], self.images[int(second)]))


class TripletDataset(Dataset):
    """Rows of (anchor, positive, negative) from :func:`siamkit.sampling.fixed.fixed_triplets`."""

    def __init__(self, images: ImageListDataset, rows: np.ndarray):
        self.images = images
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int):
        return tuple(zip(*(self.images[int(i)] for i in self.rows[index])))


def interleave_identities(labels: Sequence[int], per_identity: int = 4) -> list[int]:
    """An order that puts ``per_identity`` images of several identities in each batch.

    Validation loss is computed batch by batch; a label-sorted order would give batches of a
    single identity with no negatives at all.
    """
    seen: dict[int, int] = {}
    keys = []
    for index, label in enumerate(labels):
        rank = seen.get(label, 0)
        seen[label] = rank + 1
        keys.append((rank // per_identity, label, index))
    return [index for _, _, index in sorted(keys)]
