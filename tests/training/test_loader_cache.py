"""Training images decoded once per run, not once per epoch, when nothing random changes them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from siamkit.data.dataset import scan_dataset
from siamkit.data.preprocessing import Augmentation, Preprocessing
from siamkit.pipelines import lightning_fit
from siamkit.training.config import load_config
from siamkit.training.datasets import ImageListDataset, rotated_classes
from tests.conftest import make_identity_images, tiny_train_settings

FIXED = {"crop_scale": 1.0, "horizontal_flip": False, "color_jitter": 0.0}


def test_a_cached_dataset_transforms_each_image_once_and_returns_the_same_tensor(tmp_path):
    pixels = np.arange(6 * 6, dtype=np.uint8).reshape(6, 6) * 7
    path = tmp_path / "a.png"
    Image.fromarray(pixels, mode="L").save(path)
    paths, labels, groups, turns = rotated_classes([str(path)], [0], [""])
    calls = []

    def transform(image):
        calls.append(1)
        return torch.from_numpy(np.asarray(image.convert("L")).copy())

    cached = ImageListDataset(paths, labels, transform, groups, turns, cache=True)
    plain = ImageListDataset(paths, labels, transform, groups, turns)
    for _ in range(3):
        for index in range(4):
            assert torch.equal(cached[index][0], plain[index][0])
    assert len(calls) == 4 + 3 * 4  # the cached dataset transformed each of its 4 images once


@pytest.mark.parametrize("changed", [{"crop_scale": 0.9}, {"horizontal_flip": True}, {"color_jitter": 0.1}, {"rotation": 5.0},
                                     {"shear": 5.0}, {"scale_jitter": 0.1}, {"translate": 0.1}])
def test_every_random_option_makes_augmentation_random(changed):
    assert not Augmentation(**FIXED).random and not Augmentation(enabled=False).random
    assert Augmentation(**{**FIXED, **changed}).random


def test_without_random_options_a_non_square_image_gives_the_same_tensor_every_time():
    # RandomResizedCrop at scale 1 would crop a 105 x 100 image a pixel short at a random offset
    pixels = np.random.default_rng(0).integers(0, 256, size=(100, 105), dtype=np.uint8)
    image = Image.fromarray(pixels, mode="L")
    preprocessing = Preprocessing(28, (0.5,), (0.5,), "bilinear", in_chans=1)
    transform = preprocessing.train_transform(Augmentation(**FIXED))
    first = transform(image)
    for seed in range(20):
        torch.manual_seed(seed)
        assert torch.equal(transform(image), first)
    assert torch.equal(first, preprocessing.eval_transform()(image))  # as evaluation sees it


def test_the_loaders_cache_only_what_cannot_change_and_fits_in_memory(tmp_path, monkeypatch):
    data = make_identity_images(tmp_path / "data", identities=4, per_identity=4)
    dataset = scan_dataset(data)
    preprocessing = Preprocessing(32, (0.5,) * 3, (0.5,) * 3, "bilinear")

    def train_cache(**settings):
        config = load_config(None, tiny_train_settings(**settings))
        return lightning_fit._train_loader(dataset, preprocessing, config).dataset.cache is not None

    assert train_cache(**FIXED)
    assert not train_cache(**{**FIXED, "horizontal_flip": True})
    assert train_cache(augment=False)
    val_loader, _ = lightning_fit._val_loader(dataset, preprocessing, load_config(None, tiny_train_settings()))
    assert val_loader.dataset.cache is not None
    first = [val_loader.dataset[i][0] for i in range(len(dataset.records))]
    assert all(torch.equal(a, val_loader.dataset[i][0]) for i, a in enumerate(first))

    monkeypatch.setattr(lightning_fit, "CACHE_BYTES", 16 * 3 * 32 * 32 * 4 - 1)  # one byte short of the 16 images
    assert not train_cache(**FIXED)


def test_the_memory_bound_counts_every_copy():
    grey_28 = Preprocessing(28, (0.5,), (0.5,), "bilinear", in_chans=1)
    assert lightning_fit._fits_in_memory(1000, grey_28, 1, "training")
    colour_224 = Preprocessing(224, (0.5,) * 3, (0.5,) * 3, "bilinear", in_chans=3)
    assert lightning_fit._fits_in_memory(1000, colour_224, 1, "training")  # 0.56 GiB
    assert not lightning_fit._fits_in_memory(1000, colour_224, 2, "training")  # two workers' copies: 1.12 GiB
