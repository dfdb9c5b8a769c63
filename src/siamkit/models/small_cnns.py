"""Small grey-scale networks trained from scratch, registered in :data:`BACKBONES` beside timm's.

ImageNet features are not what hand-drawn characters, signatures or sketches need: on Omniglot a
4-block CNN trained from scratch on 28 px characters beats a fine-tuned EfficientNet at 80 px
(docs/benchmarks.md). These networks read one channel (grey-scale native: the decoder, the model
folder, ONNX and the service all feed them one channel), take images from 16 px up, and end in
global average pooling, so one set of weights works at any input size.

* ``conv4``       Vinyals et al. / Snell et al.'s 4 x (conv 3x3 - BatchNorm - ReLU - max-pool),
                  64 channels: the few-shot baseline for 28-84 px.
* ``conv4-wide``  the same with 128 channels (four times the compute).
* ``conv4-256``   widths doubling 32-64-128-256: about conv4's compute, four times its features
                  (for many classes or larger images, such as Fashion-MNIST).
* ``conv4-384``   widths 48-96-192-384: about 2.25 times conv4-256's multiply-adds; on Fashion-MNIST
                  (54,000 training images, 10 classes) it learns faster per epoch than conv4-256.
* ``resnet12``    the ResNet-12 of TADAM / MetaOptNet (4 residual stages of three 3x3 convolutions,
                  widths 64-128-256-512): stronger, about 30 times conv4's compute.
* ``koch-cnn``    Koch, Zemel and Salakhutdinov (2015)'s Siamese CNN for 105 px (conv 10x10,
                  7x7, 4x4, 4x4, then a 4096-unit sigmoid layer), pooled to 6 x 6 before the
                  dense layer so it also takes other sizes from 65 px.

Each is registered with ``from_scratch=True``: every layer trains and BatchNorm statistics update,
whatever ``trainable_stages`` and ``freeze_bn_stats`` say (those protect pretrained weights).
"""

from __future__ import annotations

import torch
from torch import nn

from siamkit.models.backbone import BACKBONES

# Characters are dark strokes on white: 0.5 / 0.5 maps the pixels to [-1, 1].
_GREY = dict(in_chans=1, mean=(0.5,), std=(0.5,), interpolation="bilinear", min_image_size=16, from_scratch=True)


def _conv_block(inputs: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, 3, padding=1, bias=False),
        nn.BatchNorm2d(outputs),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2, ceil_mode=True),
    )


class _ResidualStage(nn.Module):
    """ResNet-12's stage: three 3x3 convolutions with a 1x1 shortcut, then a 2x2 max-pool."""

    def __init__(self, inputs: int, outputs: int):
        super().__init__()
        layers = []
        for i in range(3):
            layers += [nn.Conv2d(inputs if i == 0 else outputs, outputs, 3, padding=1, bias=False), nn.BatchNorm2d(outputs)]
            if i < 2:
                layers.append(nn.LeakyReLU(0.1, inplace=True))
        self.body = nn.Sequential(*layers)
        self.shortcut = nn.Sequential(nn.Conv2d(inputs, outputs, 1, bias=False), nn.BatchNorm2d(outputs))
        self.out = nn.Sequential(nn.LeakyReLU(0.1, inplace=True), nn.MaxPool2d(2, ceil_mode=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x) + self.shortcut(x))


class ConvNet(nn.Module):
    """``len(widths)`` stages, each halving the map (``stage(inputs, outputs)``: a conv block or
    a residual stage), then global average pooling."""

    def __init__(self, widths=(64, 64, 64, 64), in_chans: int = 1, stage=_conv_block):
        super().__init__()
        channels = (in_chans, *widths)
        self.blocks = nn.Sequential(*(stage(channels[i], channels[i + 1]) for i in range(len(widths))))
        self.num_features = int(widths[-1])
        _init(self)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.blocks(images).mean((2, 3))

    def group_matcher(self, coarse: bool = False) -> dict:
        """timm's stage grouping (``--trainable-stages`` reads it): one group per stage."""
        return {"stem": r"^blocks\.0\.", "blocks": r"^blocks\.(\d+)"}


class KochNet(nn.Module):
    """Koch et al. (2015): 105 px in, a 4096-d sigmoid code out."""

    def __init__(self, in_chans: int = 1):
        super().__init__()
        self.blocks = nn.Sequential(
            nn.Sequential(nn.Conv2d(in_chans, 64, 10), nn.ReLU(inplace=True), nn.MaxPool2d(2)),
            nn.Sequential(nn.Conv2d(64, 128, 7), nn.ReLU(inplace=True), nn.MaxPool2d(2)),
            nn.Sequential(nn.Conv2d(128, 128, 4), nn.ReLU(inplace=True), nn.MaxPool2d(2)),
            nn.Sequential(nn.Conv2d(128, 256, 4), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(6)),
        )
        self.dense = nn.Sequential(nn.Flatten(), nn.Linear(256 * 6 * 6, 4096), nn.Sigmoid())
        self.num_features = 4096
        _init(self)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.dense(self.blocks(images))

    def group_matcher(self, coarse: bool = False) -> dict:
        return {"stem": r"^blocks\.0\.", "blocks": [(r"^blocks\.(\d+)", None), (r"^dense", (99999,))]}


def _init(module: nn.Module) -> None:
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.ones_(layer.weight)
            nn.init.zeros_(layer.bias)


@BACKBONES.register("conv4", **_GREY)
def conv4() -> nn.Module:
    return ConvNet((64, 64, 64, 64))


@BACKBONES.register("conv4-wide", **_GREY)
def conv4_wide() -> nn.Module:
    return ConvNet((128, 128, 128, 128))


@BACKBONES.register("conv4-256", **_GREY)
def conv4_256() -> nn.Module:
    return ConvNet((32, 64, 128, 256))


@BACKBONES.register("conv4-384", **_GREY)
def conv4_384() -> nn.Module:
    return ConvNet((48, 96, 192, 384))


@BACKBONES.register("resnet12", **_GREY)
def resnet12() -> nn.Module:
    return ConvNet((64, 128, 256, 512), stage=_ResidualStage)


@BACKBONES.register("koch-cnn", **{**_GREY, "min_image_size": 65})
def koch_cnn() -> nn.Module:
    return KochNet()
