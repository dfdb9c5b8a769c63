"""siamkit's own grey-scale networks: one channel in, any size from 16 px, every layer trained."""

from __future__ import annotations

import pytest
import torch

from siamkit.errors import SiamkitError
from siamkit.models.backbone import BACKBONES, backbone_data_config, check_backbone_name, create_backbone, input_channels
from siamkit.models.network import SiameseNetwork


@pytest.mark.parametrize("name, sizes", [("conv4", (16, 28, 33)), ("conv4-wide", (16,)), ("conv4-256", (16, 28)), ("conv4-384", (16, 28)), ("resnet12", (16, 28)), ("koch-cnn", (65, 105))])
def test_each_network_reads_one_channel_at_any_size(name, sizes):
    backbone = create_backbone(name, "auto").eval()
    assert input_channels(backbone) == 1
    config = backbone_data_config(backbone)
    assert config["mean"] == (0.5,) and config["std"] == (0.5,) and config["input_size"][0] == 1
    for size in sizes:
        with torch.no_grad():
            features = backbone(torch.randn(2, 1, size, size))
        assert features.shape == (2, backbone.num_features) and torch.isfinite(features).all()


def test_sizes_below_the_minimum_are_refused():
    check_backbone_name("conv4", 16)
    with pytest.raises(SiamkitError, match="--image-size 12: backbone 'conv4' takes images of at least 16"):
        check_backbone_name("conv4", 12)
    with pytest.raises(SiamkitError, match="koch-cnn' takes images of at least 65"):
        check_backbone_name("koch-cnn", 28)


def test_from_scratch_networks_train_every_layer_and_their_batchnorm_statistics():
    # The defaults (3 stages, frozen BatchNorm statistics) protect pretrained weights; a network
    # trained from its random start has nothing to protect and must not keep mean 0 / variance 1.
    assert BACKBONES.metadata("conv4")["from_scratch"]
    network = SiameseNetwork.create("conv4", "none", embedding_dim=8, hidden_dim=16, trainable_stages=3, freeze_bn_stats=True)
    assert all(p.requires_grad for p in network.backbone.parameters())
    network.train()
    before = network.backbone.blocks[0][1].running_mean.clone()
    network(torch.randn(4, 1, 28, 28) + 3)
    assert not torch.equal(before, network.backbone.blocks[0][1].running_mean)


def test_stages_can_still_be_frozen_through_group_matcher():
    from siamkit.models.backbone import set_trainable_stages

    backbone = create_backbone("conv4", "none")
    frozen = set_trainable_stages(backbone, 1)
    assert frozen and all(name.startswith(("blocks.0.", "blocks.1.", "blocks.2.")) for name in frozen)
    assert all(p.requires_grad for n, p in backbone.named_parameters() if n.startswith("blocks.3."))


def test_timm_backbones_keep_their_32_pixel_floor_and_a_folder_must_fit_its_channels(tmp_path):
    import dataclasses

    from siamkit.data.preprocessing import Preprocessing
    from siamkit.inference.siamese_model import build_network
    from siamkit.models.model_folder import ModelConfig

    with pytest.raises(SiamkitError, match="--image-size 20: backbone 'resnet10t' takes images of at least 32"):
        check_backbone_name("resnet10t", 20)
    config = ModelConfig(backbone="conv4", preprocessing=Preprocessing(28, (0.5,), (0.5,), "bilinear", 1), embedding_dim=8,
                         hidden_dim=16, loss="prototypical", margin=10.0, pair_head=False, threshold=1.0)
    assert build_network(config).in_chans == 1
    rgb = dataclasses.replace(config, preprocessing=Preprocessing(28, (0.5,) * 3, (0.5,) * 3, "bilinear", 3))
    with pytest.raises(SiamkitError, match="backbone 'conv4' reads 1 channel.s. but the preprocessing says 3"):
        build_network(rgb)
