"""A backbone registered from user code builds, freezes, trains and loads like a timm one."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from siamkit.errors import SiamkitError
from siamkit.models.backbone import BACKBONES, backbone_data_config, check_backbone_name, create_backbone
from siamkit.models.network import SiameseNetwork
from tests.conftest import tiny_train_settings


class TinyCnn(nn.Module):
    """Two convolutions and a global average: 3 input channels, 8 features, no timm in sight."""

    num_features = 8

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.features(images)


@pytest.fixture
def tiny_cnn():
    BACKBONES.register("tiny-cnn", mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), interpolation="bilinear",
                       min_image_size=16, max_image_size=64)(TinyCnn)
    yield "tiny-cnn"
    BACKBONES.unregister("tiny-cnn")


def test_registered_backbone_builds_with_its_preprocessing(tiny_cnn):
    backbone = create_backbone(tiny_cnn, "none")
    assert isinstance(backbone, TinyCnn)
    config = backbone_data_config(backbone)
    assert config["mean"] == (0.5, 0.5, 0.5) and config["std"] == (0.25, 0.25, 0.25) and config["interpolation"] == "bilinear"
    network = SiameseNetwork.create(tiny_cnn, "none", embedding_dim=4, hidden_dim=8, trainable_stages=-1)
    assert network(torch.randn(2, 3, 32, 32)).shape == (2, 4)
    assert all(p.requires_grad for p in network.backbone.parameters())


def test_registered_backbone_checks_image_size_and_stages(tiny_cnn):
    check_backbone_name(tiny_cnn, 32)
    with pytest.raises(SiamkitError, match="--image-size 160: backbone 'tiny-cnn' takes images of 16 to 64"):
        check_backbone_name(tiny_cnn, 160)
    # No timm group_matcher: only "all layers" (-1) and "frozen" (0) make sense.
    with pytest.raises(SiamkitError, match="--trainable-stages 3: backbone 'tiny-cnn' does not group"):
        SiameseNetwork.create(tiny_cnn, "none", trainable_stages=3)
    frozen = SiameseNetwork.create(tiny_cnn, "none", trainable_stages=0)
    assert not any(p.requires_grad for p in frozen.backbone.parameters())


def test_registered_backbone_weights_file_and_channels(tiny_cnn, tmp_path):
    from safetensors.torch import save_file

    source = create_backbone(tiny_cnn, "none")
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(tmp_path / "w.safetensors"))
    loaded = create_backbone(tiny_cnn, tmp_path / "w.safetensors")
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in source.state_dict().items())
    BACKBONES.register("two-channel-cnn", in_chans=2, mean=(0.5, 0.5), std=(0.5, 0.5))(TinyCnn)
    BACKBONES.register("grey-cnn-imagenet-stats", in_chans=1)(TinyCnn)  # ImageNet's 3-value mean by default
    try:
        with pytest.raises(SiamkitError, match="takes 2 input channels; siamkit feeds it grey .1. or RGB .3."):
            create_backbone("two-channel-cnn", "none")
        with pytest.raises(SiamkitError, match="register a mean and std of 1 value.s. each"):
            create_backbone("grey-cnn-imagenet-stats", "none")
    finally:
        BACKBONES.unregister("two-channel-cnn")
        BACKBONES.unregister("grey-cnn-imagenet-stats")


def test_unknown_name_suggests_registered_backbones(tiny_cnn):
    with pytest.raises(SiamkitError, match="did you mean .*tiny-cnn"):
        check_backbone_name("tiny-cn")


def test_registered_backbone_trains_and_its_model_folder_loads(tiny_cnn, tiny_dataset, tmp_path):
    from siamkit.inference.siamese_model import SiameseModel
    from siamkit.training.config import load_config
    from siamkit.pipelines.training_run import train

    result = train(tiny_dataset, tmp_path / "run", load_config(None, tiny_train_settings(backbone=tiny_cnn)))
    config = json.loads((result.model_folder / "config.json").read_text())
    assert config["backbone"] == "tiny-cnn" and config["preprocessing"]["mean"] == [0.5, 0.5, 0.5]
    model = SiameseModel.load(result.model_folder, backend="torch")
    embeddings = model.embed(sorted(tiny_dataset.rglob("*.png"))[:3])
    assert embeddings.shape == (3, 16)
