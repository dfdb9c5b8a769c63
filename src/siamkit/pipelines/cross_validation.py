"""Settings chosen by k folds of the training identities instead of one small validation part.

``cross_validate`` cuts a run's development images (train + validation, never test) into k folds
(``siamkit.data.cv_folds``) and trains one run per fold, each validated on its held-out fold.
Every fold trains all ``max_epochs`` (no early stopping; the MLP head where ``head`` is auto), so the mean validation curve over the
folds says how many epochs to train; its value there is the cross-validated score, and the folds'
spread at that epoch says how much to trust it. ``siamkit tune`` scores each trial this way, and
``siamkit train --set cv_folds=K`` uses it to choose ``max_epochs`` before training the final run.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from siamkit.errors import SiamkitError
from siamkit.io.atomic import write_text_atomic
from siamkit.training.config import TrainConfig

log = logging.getLogger("siamkit")


@dataclass
class FoldResult:
    fold: int
    score: float  # validation ROC AUC of what the fold run kept, on its held-out fold
    epochs: int  # epochs trained (0 when the closed-form embedding was kept)
    curve: list[float]  # validation ROC AUC after each epoch (empty when nothing was trained)
    seconds: float
    run_folder: Path


@dataclass
class CrossValidation:
    """The folds' results; ``score`` is their mean validation ROC AUC."""

    folds: list[FoldResult] = field(default_factory=list)
    unit: str = "identity"

    @property
    def scores(self) -> list[float]:
        return [f.score for f in self.folds]

    @property
    def score(self) -> float:
        """The mean validation ROC AUC at the epoch count chosen from the mean curve (every fold
        scored after the same number of epochs); without curves, the mean of the folds' scores."""
        return float(np.mean(self.fold_scores())) if self.folds else float("nan")

    def fold_scores(self) -> list[float]:
        """Each fold's score where ``score`` reads it: at the chosen epoch count, or its own."""
        epochs = self.best_epochs()
        if epochs is not None and self.folds and all(len(f.curve) >= epochs for f in self.folds):
            return [f.curve[epochs - 1] for f in self.folds]
        return self.scores

    @property
    def spread(self) -> float:
        """Sample standard deviation of the fold scores (0 with one fold)."""
        return float(np.std(self.fold_scores(), ddof=1)) if len(self.folds) > 1 else 0.0

    def mean_curve(self) -> list[float]:
        """The mean validation ROC AUC after each epoch, over the folds that trained it."""
        length = min((len(f.curve) for f in self.folds), default=0)
        if not length:
            return []
        return [float(np.mean([f.curve[e] for f in self.folds])) for e in range(length)]

    def best_epochs(self) -> int | None:
        """Epochs at the peak of the mean curve (counted from 1), or None when nothing was trained."""
        curve = self.mean_curve()
        finite = [(value, -epoch) for epoch, value in enumerate(curve, start=1) if math.isfinite(value)]
        return -max(finite)[1] if finite else None

    def to_dict(self) -> dict:
        return {
            "unit": self.unit, "score": self.score, "spread": self.spread, "best_epochs": self.best_epochs(),
            "fold_scores": self.fold_scores(),
            "mean_curve": self.mean_curve(),
            "folds": [{**dataclasses.asdict(f), "run_folder": str(f.run_folder)} for f in self.folds],
        }


def read_curve(history: Path) -> list[float]:
    """validation ROC AUC per epoch from a run's history.csv, in epoch order."""
    if not history.is_file():
        return []
    with open(history, newline="") as handle:
        rows = sorted(csv.DictReader(handle), key=lambda row: int(row["epoch"]))
    return [float(row["val_roc_auc"]) if row.get("val_roc_auc") else float("nan") for row in rows]


def fold_config(config: TrainConfig) -> TrainConfig:
    """What each fold trains with: every epoch (so the curves line up), no test evaluation, and the
    head that ``head: auto`` trains (the folds measure training; the closed-form candidate has no epochs)."""
    from siamkit.pipelines.postprocess_fit import fitted_head

    return dataclasses.replace(
        config, evaluate=False, patience=config.max_epochs + 1, keep="best", cv_folds=0, head=fitted_head(config),
    )


def _finished_fold(run: Path, config: TrainConfig) -> dict | None:
    """The stored result of a fold run that finished with exactly ``config`` (for resuming)."""
    import yaml

    record = run / "fold.json"
    try:
        stored = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
        result = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return None
    # max_time and plots do not change what a fold that finished learned
    ignore = {"max_time": None, "plots": None}
    return result if isinstance(stored, dict) and {**stored, **ignore} == {**config.to_dict(), **ignore} else None


def cross_validate(
    data: str | os.PathLike,
    out: str | os.PathLike,
    config: TrainConfig,
    folds: int = 3,
    on_fold: Callable[[int, float], None] | None = None,
    max_minutes: float | None = None,
    split=None,
) -> CrossValidation:
    """Train one run per development fold into ``out/fold-I`` and score each on its held-out fold.

    ``on_fold(i, running_mean)`` is called after each fold (``siamkit tune`` prunes from it; an
    exception it raises stops the folds). ``max_minutes`` bounds each fold's training. A fold
    folder that already holds a finished fold with the same settings is reused. ``split``, if
    given, is the run's split (its test part stays out of the folds); otherwise the one ``config`` makes.
    """
    from siamkit.data.cv_folds import development_folds, fold_unit
    from siamkit.data.dataset import scan_dataset
    from siamkit.pipelines.training_run import config_split, train

    out = Path(out)
    dataset = scan_dataset(data)
    split = split if split is not None else config_split(dataset, config)
    splits = development_folds(dataset, split, folds, config.seed)
    settings = fold_config(config)
    if max_minutes is not None:
        settings = dataclasses.replace(settings, max_time=min(settings.max_time or math.inf, max(0.1, max_minutes)))
    result = CrossValidation(unit=fold_unit(split))
    for number, fold_split in enumerate(splits, start=1):
        run = out / f"fold-{number}"
        stored = _finished_fold(run, settings)
        if stored is not None:
            log.info("cross-validation fold %d/%d: reusing the finished fold in %s", number, folds, run)
            fold = FoldResult(number, stored["score"], stored["epochs"], stored["curve"], stored["seconds"], run)
        else:
            if run.exists() and any(run.iterdir()):
                import shutil

                shutil.rmtree(run)  # an interrupted fold, or one trained with other settings: start it again
            log.info("cross-validation fold %d/%d: training on %d images, validating on %d (%s)",
                     number, folds, len(fold_split.train), len(fold_split.val), fold_split.protocol)
            trained = train(data, run, settings, split=fold_split)
            if not trained.primary:
                raise SiamkitError("cross-validation runs in one process; start it without torchrun")
            curve = read_curve(run / "history.csv")
            fold = FoldResult(number, trained.best_val_roc_auc, trained.epochs, curve, trained.seconds, run)
            record = {k: v for k, v in dataclasses.asdict(fold).items() if k != "run_folder"}
            write_text_atomic(run / "fold.json", json.dumps(record, indent=2))
        result.folds.append(fold)
        log.info("cross-validation fold %d/%d: validation ROC AUC %.4f (mean so far %.4f)", number, folds, fold.score, result.score)
        if on_fold is not None:
            on_fold(number, result.score)
    write_text_atomic(out / "cv.json", json.dumps(result.to_dict(), indent=2))
    log.info("cross-validation over %d %s folds: validation ROC AUC %.4f ± %.4f%s", folds, result.unit, result.score, result.spread,
             f", best at {result.best_epochs()} epochs on the mean curve" if result.best_epochs() else "")
    return result
