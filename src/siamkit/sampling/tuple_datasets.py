"""Torch datasets of fixed pairs and triplets over a dataset of (image, label, index) items."""

from __future__ import annotations

import numpy as np
from torch.utils.data import Dataset


class _RowDataset(Dataset):
    """Each item is one row of image indices, returned as its images' fields side by side."""

    columns = 0  # how many leading columns of a row name images

    def __init__(self, images: Dataset, rows: np.ndarray):
        self.images = images
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int):
        return tuple(zip(*(self.images[int(i)] for i in self.rows[index][: self.columns])))


class PairDataset(_RowDataset):
    """Rows of (index_a, index_b, same) from :func:`siamkit.sampling.fixed.balanced_pairs`."""

    columns = 2


class TripletDataset(_RowDataset):
    """Rows of (anchor, positive, negative) from :func:`siamkit.sampling.fixed.fixed_triplets`."""

    columns = 3
