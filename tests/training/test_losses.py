import pytest
import torch
from torch.nn import functional as F

from siamkit.models.heads import PairHead
from siamkit.training.losses import batch_indices, bce_pair_loss, build_loss, build_miner, drop_same_image

LABELS = torch.tensor([0, 0, 1, 1, 2, 2, 0, 1])
IMAGE_IDS = torch.tensor([10, 11, 20, 21, 30, 31, 10, 20])  # the last two repeat images 10 and 20


@pytest.mark.parametrize("loss_name", ["triplet", "contrastive", "multi-similarity", "arcface", "bce"])
@pytest.mark.parametrize("miner_name", ["batch-hard", "semi-hard", "all"])
def test_every_loss_gives_a_finite_differentiable_value(loss_name, miner_name):
    torch.manual_seed(0)
    embeddings = F.normalize(torch.randn(8, 16), dim=1).requires_grad_()
    loss_fn = build_loss(loss_name, 0.5, 16, 3)
    if loss_name == "arcface":
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
