"""Every training option in one dataclass, filled from defaults, a YAML file and CLI flags.

Flags override the file, the file overrides the defaults. Unknown keys and wrong types are user
errors (exit 2) naming the key, because a typo like ``marign: 0.5`` silently ignored would cost
someone a day of training with the wrong margin.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field, fields

from siamkit.data.splits import SPLIT_RULES, parse_fold
from siamkit.errors import SiamkitError
from siamkit.losses import LOSSES, MINERS
from siamkit.sampling import SAMPLERS, resolve_sampler

# Losses, miners and samplers are registries (siamkit.losses, siamkit.sampling): their names,
# default margins and what each needs are read from there, so user-registered entries validate too.
OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("cosine", "plateau", "none")
DEVICES = ("auto", "cpu", "cuda")
THRESHOLD_RULES = ("max_accuracy", "eer", "max_f1")
# What other tools call some of our keys: only for "did you mean", since 'lerning_rate' is too far
# from 'lr' for a spelling match but close to 'learning_rate'.
KEY_ALIASES = {
    "learning_rate": "lr",
    "epochs": "max_epochs",
    "num_epochs": "max_epochs",
    "embedding_size": "embedding_dim",
    "input_size": "image_size",
    "img_size": "image_size",
    "num_workers": "workers",
    "random_seed": "seed",
}


@dataclass
class TrainConfig:
    """Defaults chosen by measurement on AT&T faces (28 training identities, 2 CPU cores):
    multi-similarity loss over all pairs at lr 1e-4, last 3 backbone stages trained with
    frozen BatchNorm statistics reached validation ROC AUC 0.987 where the untrained
    backbone scores 0.966; triplet/contrastive at lr 1e-3 overfit the few identities."""

    backbone: str = "tf_efficientnet_lite0"
    pretrained: str = "auto"
    trainable_stages: int = 3
    freeze_bn_stats: bool = True
    embedding_dim: int = 128
    hidden_dim: int = 512
    # What the embedding is computed from and the fixed map fitted after training on the training
    # identities (siamkit.models.features). head "none" trains nothing: the features themselves,
    # post-processed, are the embedding (the closed-form recipe); "auto" trains the MLP head and,
    # on small training sets, also fits the closed-form embedding and keeps whichever scores the
    # higher validation ROC AUC (siamkit.pipelines.postprocess_fit.choose_embedding).
    head: str = "auto"
    # Lightning's own experiment logger, beside history.csv: none | csv | tensorboard | mlflow
    # (tensorboard and mlflow are optional packages: pip install "siamkit[tensorboard]" / "[mlflow]")
    logger: str = "none"
    feature_block: int = -1
    feature_grid: int = 1
    flip_average: bool = False
    zoom_average: float = 0.0  # also average with the centre part (this fraction of each side), scaled up; 0 = off
    postprocess: str = "none"
    postprocess_dim: int = 128
    whiten_shrink: float = 0.1
    image_size: int = 160
    loss: str = "multi-similarity"
    margin: typing.Optional[float] = None
    sampling: str = "online"
    miner: str = "all"
    m_per_class: int = 4
    group_batches: bool = False
    pairs_per_epoch: int = 2000
    batch_size: int = 32
    optimizer: str = "adamw"
    lr: float = 1e-4
    backbone_lr_scale: float = 1.0
    eps: float = 1e-8
    weight_decay: float = 1e-4
    schedule: str = "cosine"
    max_epochs: int = 15
    # The cosine schedule's length in epochs when longer than max_epochs: cross-validation
    # (cv_folds, siamkit tune) chooses to stop after fewer epochs of the schedule the folds ran.
    schedule_epochs: typing.Optional[int] = None
    max_time: typing.Optional[float] = None
    patience: int = 5
    # Which epoch's weights the run keeps: the best validation ROC AUC, or the last epoch trained
    # (cv_folds sets it: the epoch count then comes from cross-validation, not one noisy score).
    keep: str = "best"
    # k >= 2: choose max_epochs at the peak of the mean validation curve of k folds of the training
    # and validation identities (siamkit.pipelines.cross_validation), then train that many epochs.
    cv_folds: int = 0
    split: str = "0.7,0.15,0.15"
    closed_set: bool = False
    split_by: str = "auto"
    fold: typing.Optional[str] = None
    seed: int = 0
    device: str = "auto"
    workers: int = -1
    augment: bool = True
    crop_scale: float = 0.8
    horizontal_flip: bool = True
    color_jitter: float = 0.2
    rotation: float = 0.0
    # Koch et al.'s affine distortions for drawings: shear (degrees), scale jitter (0.2 = 0.8-1.2x),
    # translation (fraction of the side); rotate_classes: each training identity rotated by 90, 180
    # and 270 degrees becomes three more identities (Vinyals et al.), in the training loader only,
    # so rotated copies never cross the train/validation/test boundary.
    shear: float = 0.0
    scale_jitter: float = 0.0
    translate: float = 0.0
    rotate_classes: bool = False
    # --sampling episodes: episode_ways classes x (episode_shots + episode_queries) images a batch,
    # a fraction episodes_within_group of them inside one group (one alphabet).
    episode_ways: int = 20
    episode_shots: int = 1
    episode_queries: int = 5
    episodes_within_group: float = 0.0
    channels_last: bool = True
    threshold_rule: str = "max_accuracy"
    evaluate: bool = True
    plots: bool = True  # the evaluation report's figures (false: numbers only, a few seconds less per run)
    ways: str = "5,20"
    shots: str = "1"
    episodes: int = 400
    within_group: bool = False

    @property
    def effective_margin(self) -> float:
        return LOSSES.metadata(self.loss)["default_margin"] if self.margin is None else float(self.margin)

    @property
    def cosine_epochs(self) -> int:
        """Epochs the cosine learning-rate schedule spans."""
        return max(self.schedule_epochs or 0, self.max_epochs)

    @property
    def sampler_name(self) -> str:
        """The registered sampler that ``sampling`` (a mode or a sampler's name) means here."""
        return resolve_sampler(self.sampling, self.group_batches, LOSSES.metadata(self.loss)["tuples"])

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def validate(self) -> "TrainConfig":
        LOSSES.get(self.loss, option="--loss")
        MINERS.get(self.miner, option="--miner")
        sampler = SAMPLERS.metadata(self.sampler_name)
        choices = {
            "optimizer": OPTIMIZERS, "schedule": SCHEDULES, "device": DEVICES,
            "threshold_rule": THRESHOLD_RULES, "split_by": SPLIT_RULES, "keep": ("best", "last"),
        }
        for key, allowed in choices.items():
            check_choice(f"--{key.replace('_', '-')}", getattr(self, key), allowed)
        from siamkit.models.layout import HEADS, POSTPROCESS

        check_choice("--head", self.head, ("auto", *HEADS))
        check_choice("--postprocess", self.postprocess, POSTPROCESS)
        from siamkit.training.loggers import LOGGERS

        check_choice("--logger", self.logger, LOGGERS)
        if not 0 <= self.whiten_shrink <= 100:
            raise SiamkitError(f"--whiten-shrink must be between 0 and 100, got {self.whiten_shrink}")
        if not 0 <= self.zoom_average < 1:
            raise SiamkitError(f"--zoom-average must be 0 (off) or a fraction below 1 such as 0.9, got {self.zoom_average}")
        if self.feature_block < -1:
            raise SiamkitError(f"feature_block {self.feature_block}: use -1 (the backbone's pooled output) or a block index from 0")
        if (self.head == "none" or self.postprocess != "none") and LOSSES.metadata(self.loss)["pair_head"]:
            raise SiamkitError(f"--loss {self.loss} trains a pair head on the embeddings; it cannot be used with head none or a postprocess")
        positive = ("embedding_dim", "hidden_dim", "image_size", "batch_size", "max_epochs", "m_per_class", "pairs_per_epoch", "episodes",
                    "feature_grid", "postprocess_dim", "episode_ways", "episode_shots", "episode_queries")
        for key in positive:
            if getattr(self, key) <= 0:
                raise SiamkitError(f"--{key.replace('_', '-')} must be positive, got {getattr(self, key)}")
        if self.schedule_epochs is not None and self.schedule_epochs <= 0:
            raise SiamkitError(f"config key 'schedule_epochs' must be positive, got {self.schedule_epochs}")
        if self.cv_folds == 1 or self.cv_folds < 0:
            raise SiamkitError(f"--cv-folds must be 0 (off) or at least 2, got {self.cv_folds}")
        if self.lr <= 0:
            raise SiamkitError(f"--lr must be positive, got {self.lr}")
        if self.batch_size % self.m_per_class:
            raise SiamkitError(f"--batch-size {self.batch_size} must be a multiple of --m-per-class {self.m_per_class}")
        if self.group_batches and self.batch_size % (2 * self.m_per_class):
            raise SiamkitError(f"group_batches: --batch-size {self.batch_size} must be a multiple of 2 x --m-per-class")
        loss = LOSSES.metadata(self.loss)
        if sampler["batches"] != "labelled" and loss["class_level"]:
            raise SiamkitError(f"--loss {self.loss} learns from class labels; use --sampling online or episodes")
        if loss["episodic"] and self.sampler_name != "episodes" and self.m_per_class <= self.episode_shots:
            raise SiamkitError(
                f"--loss {self.loss} needs queries beside the {self.episode_shots} support image(s) of each identity: "
                f"use --sampling episodes, or --m-per-class above episode_shots ({self.episode_shots})"
            )
        if self.episode_ways < 2:
            raise SiamkitError(f"--episode-ways must be at least 2, got {self.episode_ways}")
        if self.scale_jitter >= 1 or min(self.shear, self.rotation) < 0:
            raise SiamkitError(
                f"augmentation: rotation and shear take degrees from 0, scale_jitter 0 to below 1 "
                f"(got rotation {self.rotation}, shear {self.shear}, scale_jitter {self.scale_jitter})"
            )
        if sampler["batches"] == "triplets" and loss["pair_head"]:
            raise SiamkitError(f"--loss {self.loss} scores pairs; use --sampling fixed or online")
        parse_fold(self.fold)
        parse_shots(self.shots)
        for key in ("episodes_within_group", "scale_jitter", "translate"):
            if not 0 <= getattr(self, key) <= 1:
                raise SiamkitError(f"--{key.replace('_', '-')} must be between 0 and 1, got {getattr(self, key)}")
        if self.image_size < 16:
            raise SiamkitError(f"--image-size {self.image_size} is too small; use 16 or more")
        return self


def parse_shots(shots) -> tuple[int, ...]:
    """``"1,5"``, ``5`` or ``(1, 5)`` -> (1, 5): support images per identity in N-way K-shot episodes."""
    if isinstance(shots, int) and not isinstance(shots, bool):
        parts = [shots]
    elif isinstance(shots, str):
        parts = [part for part in shots.split(",") if part.strip()]
    else:
        parts = list(shots)
    try:
        values = tuple(int(part) for part in parts)
    except (TypeError, ValueError):
        values = ()
    if not values or min(values) < 1:
        raise SiamkitError(f"--shots '{shots}': give positive whole numbers separated by commas, such as 1,5")
    return values


def check_choice(option: str, value, allowed) -> None:
    """A user error naming the option, with the closest allowed value, when ``value`` is not one."""
    if value in allowed:
        return
    import difflib

    close = difflib.get_close_matches(str(value), list(allowed), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise SiamkitError(f"{option} '{value}': choose one of {', '.join(allowed)}{hint}")


def _coerce(key: str, value, annotation):
    """Check a YAML value against the field's type; ints are accepted where floats are expected."""
    hint = typing.get_type_hints(TrainConfig)[key]
    optional = typing.get_origin(hint) is typing.Union and type(None) in typing.get_args(hint)
    base = next(a for a in typing.get_args(hint) if a is not type(None)) if optional else hint
    if value is None and optional:
        return None
    if base is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if base is float and isinstance(value, str):
        try:  # YAML 1.1 reads 1e-3 (no dot) as a string
            return float(value)
        except ValueError:
            pass
    if base is str and isinstance(value, (int, float)) and key == "pretrained":
        return str(value)
    if base is str and key in ("split", "ways", "shots") and isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if base is str and key in ("ways", "shots") and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, base) and not (base is int and isinstance(value, bool)):
        return value
    raise SiamkitError(f"config key '{key}': expected {base.__name__}, got {type(value).__name__} ({value!r})")


def load_config(path: str | os.PathLike | None, overrides: dict | None = None) -> TrainConfig:
    """Defaults <- YAML file <- overrides (CLI flags that the user actually gave)."""
    values: dict = {}
    if path is not None:
        values.update(_read_yaml(find_config(path)))
    names = {f.name for f in fields(TrainConfig)}
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = value
    unknown = sorted(set(values) - names)
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], sorted(names) + sorted(KEY_ALIASES), n=1)
        hint = f" (did you mean '{KEY_ALIASES.get(close[0], close[0])}'?)" if close else ""
        raise SiamkitError(f"{path or 'options'}: unknown key '{unknown[0]}'{hint}")
    coerced = {key: _coerce(key, value, None) for key, value in values.items()}
    return TrainConfig(**coerced).validate()


# The recipe files moved to siamkit.training.recipe_files; the old import paths still work.
from siamkit.training.recipe_files import _read_yaml, find_config, recipe_description, recipe_file, recipe_names  # noqa: E402, F401
