"""What ``siamkit tune`` searches: each dimension names config keys and draws them from an Optuna trial.

A dimension applies only where it means something for the recipe being tuned: trainable stages
need a pretrained backbone, the miner a pair or triplet loss in online batches, the closed-form
dimensions (feature block, grid, shrinkage) a recipe whose head is ``none``. Ranges are read around
the recipe's own values (learning rate from a tenth to ten times it, epochs from half to twice),
so a recipe is tuned near where its author put it, and the first trial is the recipe itself.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable

from siamkit.errors import SiamkitError
from siamkit.training.config import TrainConfig


def _trains(config: TrainConfig) -> bool:
    return config.head != "none"


def _online_tuples(config: TrainConfig) -> bool:
    from siamkit.losses import LOSSES

    meta = LOSSES.metadata(config.loss)
    return _trains(config) and config.sampling == "online" and not meta["class_level"] and not meta["pair_head"]


def _pretrained(config: TrainConfig) -> bool:
    return _trains(config) and config.pretrained != "none"


def compatible_losses(config: TrainConfig) -> list[str]:
    """Losses the recipe's sampling can train (each checked by the config's own validation)."""
    from siamkit.losses import LOSSES

    names = []
    for name in LOSSES:
        if LOSSES.metadata(name)["pair_head"] and config.postprocess != "none":
            continue
        try:
            dataclasses.replace(config, loss=name, margin=None).validate()
        except SiamkitError:
            continue
        names.append(name)
    return names


def _image_sizes(config: TrainConfig) -> list[int]:
    """The recipe's size and sizes a quarter below and above it, in steps of 4 pixels."""
    base = config.image_size
    return sorted({max(16, int(round(base * factor / 4)) * 4) for factor in (0.75, 1.0, 1.25)} | {base})


def _augmentation(strength: float, config: TrainConfig) -> dict:
    """One strength from 0 (none) to 1 mapped on the crop, colour and rotation augmentations."""
    return {
        "augment": strength > 0,
        "crop_scale": round(1.0 - 0.5 * strength, 3),
        "color_jitter": round(0.4 * strength, 3),
        "rotation": round(15.0 * strength, 2),
    }


@dataclass(frozen=True)
class Dimension:
    name: str
    help: str
    applies: Callable[[TrainConfig], bool]
    suggest: Callable[[object, TrainConfig], dict]  # (trial, recipe) -> config keys
    start: Callable[[TrainConfig], dict]  # the recipe's own value, as the trial parameters it would draw
    keys: tuple[str, ...] = ()  # the config keys it sets (default: its name)

    @property
    def config_keys(self) -> tuple[str, ...]:
        return self.keys or (self.name,)


def _lr(trial, c):
    return {"lr": trial.suggest_float("lr", c.lr / 10, c.lr * 10, log=True)}


def _epochs_range(c) -> tuple[int, int]:
    return max(1, c.max_epochs // 2), max(2, c.max_epochs * 2)


def _epochs(trial, c):
    low, high = _epochs_range(c)
    return {"max_epochs": trial.suggest_int("max_epochs", low, high)}


def _loss(trial, c):
    name = trial.suggest_categorical("loss", compatible_losses(c))
    return {"loss": name, "margin": c.margin if name == c.loss else None}  # another loss gets its own default margin


def _miner(trial, c):
    from siamkit.losses import MINERS

    return {"miner": trial.suggest_categorical("miner", list(MINERS))}


STAGE_CHOICES = (0, 1, 2, 3, 4, 5, -1)  # -1: every stage


def _stages(trial, c):
    return {"trainable_stages": trial.suggest_categorical("trainable_stages", list(STAGE_CHOICES))}


def _strength(c) -> float:
    """The augmentation strength a recipe's own settings come closest to."""
    return 0.0 if not c.augment else round(min(1.0, max(0.0, (1.0 - c.crop_scale) / 0.5)), 2)


def _augment(trial, c):
    strength = trial.suggest_float("augment_strength", 0.0, 1.0)
    if strength == _strength(c):  # the recipe's own strength (trial 0): its own augmentation settings, unchanged
        return {}
    return _augmentation(strength, c)


def _embedding(trial, c):
    return {"embedding_dim": trial.suggest_categorical("embedding_dim", sorted({64, 128, 256, c.embedding_dim}))}


def _size(trial, c):
    return {"image_size": trial.suggest_categorical("image_size", _image_sizes(c))}


def _block(trial, c):  # -1: the backbone's pooled output
    return {"feature_block": trial.suggest_categorical("feature_block", sorted({-1, 2, 3, 4, 5, 6, c.feature_block}))}


def _grid(trial, c):
    return {"feature_grid": trial.suggest_categorical("feature_grid", sorted({1, 2, 3, c.feature_grid}))}


def _zoom(trial, c):
    return {"zoom_average": trial.suggest_categorical("zoom_average", sorted({0.0, 0.8, 0.9, c.zoom_average}))}


def _shrink(trial, c):
    if c.whiten_shrink == 0:  # the recipe's no shrinkage stays in reach
        return {"whiten_shrink": trial.suggest_float("whiten_shrink", 0.0, 1.0)}
    low, high = min(0.01, c.whiten_shrink), max(1.0, c.whiten_shrink)
    return {"whiten_shrink": trial.suggest_float("whiten_shrink", low, high, log=True)}


DIMENSIONS: dict[str, Dimension] = {d.name: d for d in (
    Dimension("lr", "learning rate, a tenth to ten times the recipe's (log scale)", _trains, _lr, lambda c: {"lr": c.lr}),
    Dimension("max_epochs", "epochs, half to twice the recipe's", _trains, _epochs, lambda c: {"max_epochs": c.max_epochs}),
    Dimension("loss", "every loss the recipe's sampling can train", _trains, _loss, lambda c: {"loss": c.loss}, ("loss", "margin")),
    Dimension("miner", "batch-hard, semi-hard or all pairs (pair and triplet losses in online batches)", _online_tuples, _miner,
              lambda c: {"miner": c.miner}),
    Dimension("trainable_stages", "backbone stages trained: 0 to 5, or all (pretrained backbones)", _pretrained, _stages,
              lambda c: {"trainable_stages": c.trainable_stages if c.trainable_stages in STAGE_CHOICES else -1}),
    Dimension("augment_strength", "0 (none) to 1: crop scale 1 to 0.5, colour jitter 0 to 0.4, rotation 0 to 15 degrees", _trains,
              _augment, lambda c: {"augment_strength": _strength(c)}, ("augment", "crop_scale", "color_jitter", "rotation")),
    Dimension("embedding_dim", "64, 128 or 256", _trains, _embedding, lambda c: {"embedding_dim": c.embedding_dim}),
    Dimension("image_size", "the recipe's size, a quarter below or above", lambda c: True, _size, lambda c: {"image_size": c.image_size}),
    Dimension("feature_block", "the block the closed-form features come from: 2 to 6, or the pooled output", lambda c: not _trains(c),
              _block, lambda c: {"feature_block": c.feature_block}),
    Dimension("feature_grid", "1 to 3 cells a side of pooled features", lambda c: not _trains(c), _grid,
              lambda c: {"feature_grid": c.feature_grid}),
    Dimension("zoom_average", "off, or also the centre 80 % or 90 % scaled up, averaged in", lambda c: not _trains(c), _zoom,
              lambda c: {"zoom_average": c.zoom_average}),
    Dimension("whiten_shrink", "whitening shrinkage, 0.01 to 1 (log scale)", lambda c: not _trains(c) and c.postprocess == "whiten",
              _shrink, lambda c: {"whiten_shrink": c.whiten_shrink}),
)}


def search_space(config: TrainConfig, names: list[str] | None = None, fixed: set[str] | frozenset = frozenset()) -> list[Dimension]:
    """The dimensions to search: ``names`` (user's ``--space``) or every one that applies to
    ``config``, less those that set a key in ``fixed`` (the user's ``--set``)."""
    if not names:
        return [d for d in DIMENSIONS.values() if d.applies(config) and not set(d.config_keys) & set(fixed)]
    chosen = []
    for name in names:
        if name not in DIMENSIONS:
            from siamkit.training.config import check_choice

            check_choice("--space", name, list(DIMENSIONS))
        if not DIMENSIONS[name].applies(config):
            raise SiamkitError(f"--space {name}: does not apply to this recipe ({DIMENSIONS[name].help})")
        if set(DIMENSIONS[name].config_keys) & set(fixed):
            raise SiamkitError(f"--space {name}: --set fixes {', '.join(sorted(set(DIMENSIONS[name].config_keys) & set(fixed)))}; search it or fix it, not both")
        chosen.append(DIMENSIONS[name])
    return chosen


def trial_config(trial, base: TrainConfig, dimensions: list[Dimension]) -> TrainConfig:
    """The recipe with this trial's draws; loss first, so the miner is drawn only where it applies."""
    values: dict = {}
    config = base
    for dimension in sorted(dimensions, key=lambda d: d.name != "loss"):
        if dimension.name == "miner" and not _online_tuples(config):
            continue
        if dimension.name == "feature_grid" and config.feature_block < 0:  # the pooled output has no grid
            continue
        values.update(dimension.suggest(trial, base))
        config = dataclasses.replace(base, **values)
    return config.validate()


def first_trial(base: TrainConfig, dimensions: list[Dimension]) -> dict:
    """The recipe's own settings as trial parameters (Optuna's enqueue_trial), clipped to the ranges."""
    params: dict = {}
    for dimension in dimensions:
        if dimension.name == "miner" and not _online_tuples(base):
            continue
        if dimension.name == "feature_grid" and base.feature_block < 0:
            continue
        params.update(dimension.start(base))
    if "max_epochs" in params:
        low, high = _epochs_range(base)
        params["max_epochs"] = min(high, max(low, params["max_epochs"]))
    return {key: value for key, value in params.items() if not (isinstance(value, float) and math.isnan(value))}
