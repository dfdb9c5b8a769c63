"""Torch datasets over image paths: single images (fixed pairs and triplets are in
:mod:`siamkit.sampling.tuple_datasets`).

Each item carries its image's index in the split so the loss can tell "two photos of one
identity" from "the same photo twice" (the M-per-class sampler repeats images of small classes).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from PIL import Image
from torch.utils.data import Dataset

from siamkit.data.decoder import ImageDecoder
from siamkit.data.images import load_image
from siamkit.data.preprocessing import Preprocessing
from siamkit.sampling.tuple_datasets import PairDataset, TripletDataset  # noqa: F401  (moved; old import path)


class ImageListDataset(Dataset):
    """Images with a class label each; optionally a group each (``groups``, read by the group
    samplers) and a rotation by ``quarter_turns[i]`` x 90 degrees before the transform
    (:func:`rotated_classes`).

    ``cache=True`` keeps each transformed image after its first use, for a transform that gives
    the same tensor every time (no random augmentation): small images, such as characters at
    28 px, then cost their decoding once per run instead of once per epoch. Each loader worker
    keeps its own copy, so the caller decides whether it fits in memory."""

    def __init__(
        self,
        paths: Sequence[str],
        labels: Sequence[int],
        transform: Callable,
        groups: Sequence[str] | None = None,
        quarter_turns: Sequence[int] | None = None,
        cache: bool = False,
    ):
        self.paths = list(paths)
        self.labels = list(labels)
        self.transform = transform
        self.groups = list(groups) if groups is not None else None
        self.quarter_turns = list(quarter_turns) if quarter_turns is not None else None
        self.cache: dict[int, object] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        image = self.cache.get(index) if self.cache is not None else None
        if image is None:
            image = self._transformed(index)
            if self.cache is not None:
                self.cache[index] = image
        return image, torch.tensor(self.labels[index]), torch.tensor(index)

    def _transformed(self, index: int):
        image = load_image(self.paths[index])
        if self.quarter_turns is not None and self.quarter_turns[index]:
            image = image.transpose(_TURNS[self.quarter_turns[index] % 4])
        return self.transform(image)


# Counter-clockwise quarter turns as PIL transposes (exact, no resampling).
_TURNS = {1: Image.Transpose.ROTATE_90, 2: Image.Transpose.ROTATE_180, 3: Image.Transpose.ROTATE_270}


ROTATIONS = 4  # each identity at 0, 90, 180 and 270 degrees: ROTATIONS identities (rotated_classes)


def rotated_classes(paths: Sequence[str], labels: Sequence[int], groups: Sequence[str]):
    """Each identity, rotated by 0, 90, 180 and 270 degrees, as four identities (Vinyals et al.
    2016): label ``4 * label + turns``. Applied to training images only, after the split, so a
    rotated copy of a validation or test identity never reaches training."""
    rotated = [(path, ROTATIONS * label + turns, group, turns) for turns in range(ROTATIONS) for path, label, group in zip(paths, labels, groups)]
    new_paths, new_labels, new_groups, quarter_turns = (list(column) for column in zip(*rotated))
    return new_paths, new_labels, new_groups, quarter_turns


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
