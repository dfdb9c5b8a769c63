"""Torch datasets of fixed pairs and triplets over a dataset of (image, label, index) items."""

from __future__ import annotations

import numpy as np
from torch.utils.data import Dataset


class PairDataset(Dataset):
    """Rows of (index_a, index_b, same) from :func:`siamkit.sampling.fixed.balanced_pairs`."""

    def __init__(self, images: Dataset, rows: np.ndarray):
        self.images = images
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int):
        first, second, _ = self.rows[index]
        return tuple(zip(self.images[int(first)], self.images[int(second)]))


class TripletDataset(Dataset):
    """Rows of (anchor, positive, negative) from :func:`siamkit.sampling.fixed.fixed_triplets`."""

    def __init__(self, images: Dataset, rows: np.ndarray):
        self.images = images
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int):
        return tuple(zip(*(self.images[int(i)] for i in self.rows[index])))
