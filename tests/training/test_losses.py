import pytest
import torch
from torch.nn import functional as F

from siamkit.models.heads import PairHead
from siamkit.training.losses import batch_indices, bce_pair_loss, build_loss, build_miner, drop_same_image

LABELS = torch.tensor([0, 0, 1, 1, 2, 2, 0, 1])
IMAGE_IDS = torch.tensor([10, 11, 20, 21, 30, 31, 10, 20])  # the last two repeat images 10 and 20


CLASS_LEVEL = ["arcface", "sub-center-arcface", "normalized-softmax", "proxy-anchor"]


@pytest.mark.parametrize("loss_name", ["triplet", "contrastive", "multi-similarity", *CLASS_LEVEL, "bce"])
@pytest.mark.parametrize("miner_name", ["batch-hard", "semi-hard", "all"])
def test_every_loss_gives_a_finite_differentiable_value(loss_name, miner_name):
    torch.manual_seed(0)
    embeddings = F.normalize(torch.randn(8, 16), dim=1).requires_grad_()
    loss_fn = build_loss(loss_name, 0.5, 16, 3)
    if loss_name in CLASS_LEVEL:
        value = loss_fn(embeddings, LABELS)
    else:
        indices = batch_indices(loss_name, build_miner(miner_name, 0.5), embeddings, LABELS, IMAGE_IDS)
        value = bce_pair_loss(PairHead(16), embeddings, indices) if loss_name == "bce" else loss_fn(embeddings, LABELS, indices)
    assert torch.isfinite(value)
    value.backward()
    assert embeddings.grad is not None


@pytest.mark.parametrize("loss_name", ["triplet", "contrastive"])
def test_positives_are_never_the_same_image(loss_name):
    embeddings = F.normalize(torch.randn(8, 4), dim=1)
    indices = batch_indices(loss_name, None, embeddings, LABELS, IMAGE_IDS)
    anchors, positives = indices[0], indices[1]
    assert len(anchors) > 0
    assert torch.all(IMAGE_IDS[anchors] != IMAGE_IDS[positives])
    assert torch.all(LABELS[anchors] == LABELS[positives])


def test_drop_same_image_removes_copies():
    triplets = (torch.tensor([0, 0]), torch.tensor([6, 1]), torch.tensor([2, 2]))
    kept = drop_same_image(triplets, IMAGE_IDS)
    assert kept[0].tolist() == [0] and kept[1].tolist() == [1]


def test_a_good_embedding_has_lower_loss_than_a_bad_one():
    labels = torch.tensor([0, 0, 1, 1])
    ids = torch.arange(4)
    good = F.normalize(torch.tensor([[1.0, 0], [1, 0.05], [0, 1], [0.05, 1]]), dim=1)
    bad = F.normalize(torch.tensor([[1.0, 0], [0, 1], [1, 0.05], [0.05, 1]]), dim=1)
    for name in ("triplet", "contrastive"):
        loss_fn = build_loss(name, 0.5, 2, 2)
        value = lambda e: loss_fn(e, labels, batch_indices(name, None, e, labels, ids))  # noqa: E731
        assert value(good) < value(bad)


def test_class_level_losses_get_their_settings():
    import math

    # the ArcFace family takes degrees (pytorch-metric-learning keeps radians)
    assert build_loss("arcface", 20.0, 16, 5).margin == pytest.approx(math.radians(20.0))
    sub = build_loss("sub-center-arcface", 25.0, 16, 5)
    assert sub.margin == pytest.approx(math.radians(25.0)) and sub.sub_centers == 3 and sub.W.shape == (16, 15)
    assert build_loss("normalized-softmax", 0.0, 16, 5).temperature == 0.05
    proxy = build_loss("proxy-anchor", 0.2, 16, 5)
    assert proxy.margin == 0.2 and proxy.alpha == 32 and proxy.proxies.shape == (5, 16)


@pytest.mark.parametrize("loss_name", CLASS_LEVEL)
def test_class_level_losses_learn_their_proxies_and_prefer_separated_classes(loss_name):
    from siamkit.losses.registry import LOSSES

    assert LOSSES.metadata(loss_name)["class_level"]
    torch.manual_seed(0)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    loss_fn = build_loss(loss_name, LOSSES.metadata(loss_name)["default_margin"], 3, 3)
    assert any(p.requires_grad for p in loss_fn.parameters())  # its proxies train with the network
    with torch.no_grad():  # point each class's proxies (sub-centres included) at one axis
        weights = next(loss_fn.parameters())
        axes = torch.eye(3).repeat_interleave(weights.numel() // 9, dim=0)
        weights.copy_(axes.T if weights.shape[0] == 3 else axes)
    aligned = torch.eye(3)[labels]
    shuffled = torch.eye(3)[torch.tensor([1, 2, 2, 0, 0, 1])]
    assert float(loss_fn(aligned, labels)) < float(loss_fn(shuffled, labels))
