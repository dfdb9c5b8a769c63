"""Torch datasets over image paths: single images (fixed pairs and triplets are in
:mod:`siamkit.sampling.tuple_datasets`).

Each item carries its image's index in the split so the loss can tell "two photos of one
identity" from "the same photo twice" (the M-per-class sampler repeats images of small classes).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch.utils.data import Dataset

from siamkit.data.decoder import ImageDecoder
from siamkit.data.images import load_image
from siamkit.data.preprocessing import Preprocessing
from siamkit.sampling.tuple_datasets import PairDataset, TripletDataset  # noqa: F401  (moved; old import path)


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


class DecodedTensor:
    """The evaluation transform as every embedder computes it (:class:`ImageDecoder`), as a CHW
    tensor: validation scores the images exactly as calibration and serving will see them."""

    def __init__(self, preprocessing: Preprocessing):
        self.decoder = ImageDecoder(preprocessing)

    def __call__(self, image) -> torch.Tensor:
        return torch.from_numpy(self.decoder.array(image)).permute(2, 0, 1)


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
