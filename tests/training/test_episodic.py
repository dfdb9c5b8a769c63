"""Episodic training: the prototypical loss, the episode sampler, and rotations as new classes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch.nn import functional as F

from siamkit.errors import SiamkitError
from siamkit.losses import LOSSES, build_loss
from siamkit.sampling import SAMPLERS
from siamkit.sampling.episodes import EpisodeBatchSampler
from siamkit.training.datasets import ImageListDataset, rotated_classes


def _manual_prototypical(embeddings, labels, shots, scale):
    """The loss written out class by class, as Snell et al. describe it."""
    classes = list(dict.fromkeys(labels.tolist()))
    prototypes, queries, targets = [], [], []
    for code, label in enumerate(classes):
        rows = [i for i, value in enumerate(labels.tolist()) if value == label]
        prototypes.append(embeddings[rows[:shots]].mean(0))
        queries += rows[shots:]
        targets += [code] * len(rows[shots:])
    distances = torch.cdist(embeddings[queries], torch.stack(prototypes)).pow(2)
    return F.cross_entropy(-scale * distances, torch.tensor(targets))


@pytest.mark.parametrize("shots", [1, 2])
def test_prototypical_loss_matches_the_definition(shots):
    assert LOSSES.metadata("prototypical")["class_level"]
    torch.manual_seed(0)
    labels = torch.tensor([3, 3, 3, 7, 7, 7, 5, 5, 5])
    embeddings = F.normalize(torch.randn(9, 6), dim=1)
    loss_fn = build_loss("prototypical", 10.0, 6, 3, episode_shots=shots)
    # Classes sorted by label inside the loss; the order of classes does not change the value.
    assert loss_fn(embeddings, labels).item() == pytest.approx(_manual_prototypical(embeddings, labels, shots, 10.0).item(), rel=1e-5)
    shuffled = torch.tensor([6, 0, 3, 7, 1, 4, 8, 2, 5])  # same within-class order, classes interleaved
    assert loss_fn(embeddings[shuffled], labels[shuffled]).item() == pytest.approx(loss_fn(embeddings, labels).item(), rel=1e-5)


def test_prototypical_loss_rewards_separated_classes_and_learns_its_scale():
    labels = torch.tensor([0, 0, 1, 1])
    good = F.normalize(torch.tensor([[1.0, 0], [1, 0.1], [0, 1], [0.1, 1]]), dim=1)
    bad = F.normalize(torch.tensor([[1.0, 0], [0, 1], [0.1, 1], [1, 0.1]]), dim=1)
    loss_fn = build_loss("prototypical", 10.0, 2, 2)
    assert loss_fn(good, labels) < loss_fn(bad, labels)
    value = loss_fn(good.clone().requires_grad_(), labels)
    value.backward()
    assert loss_fn.log_scale.grad is not None
    # A batch without any query (one image per class) gives zero, not NaN.
    assert loss_fn(good[[0, 2]], labels[[0, 2]]).item() == 0.0


def test_episodes_have_the_asked_shape_and_no_repeated_image():
    labels = np.repeat(np.arange(12), 6)
    groups = np.repeat(np.array(["a", "b", "c"]), 24)
    sampler = EpisodeBatchSampler(labels, groups, ways=5, shots=1, queries=3, within_group=0.0, seed=1)
    assert len(sampler) == len(labels) // 20
    for batch in sampler:
        assert len(batch) == 20 and len(set(batch)) == 20
        batch_labels = labels[batch]
        assert len(set(batch_labels)) == 5
        assert all((batch_labels[i * 4 : (i + 1) * 4] == batch_labels[i * 4]).all() for i in range(5))  # class by class
    assert list(sampler) != list(EpisodeBatchSampler(labels, groups, 5, 1, 3, 0.0, seed=2))


def test_within_group_episodes_stay_in_one_group():
    labels = np.repeat(np.arange(12), 6)
    groups = np.repeat(np.array(["a", "b", "c"]), 24)
    sampler = EpisodeBatchSampler(labels, groups, ways=3, shots=1, queries=2, within_group=1.0, seed=0, batches=30)
    for batch in sampler:
        assert len(set(groups[batch])) == 1
    mixed = EpisodeBatchSampler(labels, groups, ways=6, shots=1, queries=2, within_group=0.0, seed=0, batches=30)
    assert any(len(set(groups[batch])) > 1 for batch in mixed)


def test_episodes_refuse_what_they_cannot_draw():
    labels = np.repeat(np.arange(4), 3)
    with pytest.raises(SiamkitError, match="episode_shots . episode_queries"):
        EpisodeBatchSampler(labels, None, ways=2, shots=1, queries=5, within_group=0.0)
    with pytest.raises(SiamkitError, match="episodes_within_group: needs every training identity inside a group"):
        EpisodeBatchSampler(labels, [""] * 12, ways=2, shots=1, queries=1, within_group=0.5)
    assert "episodes" in SAMPLERS


def test_rotated_classes_turn_training_images_into_four_identities(tmp_path):
    pixels = np.arange(6 * 6, dtype=np.uint8).reshape(6, 6) * 7
    path = tmp_path / "a.png"
    Image.fromarray(pixels, mode="L").save(path)
    paths, labels, groups, turns = rotated_classes([str(path)], [2], ["latin"])
    assert labels == [8, 9, 10, 11] and turns == [0, 1, 2, 3] and groups == ["latin"] * 4
    dataset = ImageListDataset(paths, labels, lambda image: np.asarray(image.convert("L")), groups, turns)
    for index in range(4):
        image, label, _ = dataset[index]
        assert np.array_equal(image, np.rot90(pixels, index)) and int(label) == labels[index]
