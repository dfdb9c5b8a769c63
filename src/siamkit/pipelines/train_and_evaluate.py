"""Train, then measure on the held-out test identities, so every run folder has a report."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from siamkit.training.config import TrainConfig
from siamkit.pipelines.run_summary import log_verdict
from siamkit.pipelines.training_run import TrainResult, train

log = logging.getLogger("siamkit")


def train_and_evaluate(
    data: str | os.PathLike, out: str | os.PathLike, config: TrainConfig, resume: bool = False, split=None
) -> TrainResult:
    if config.cv_folds >= 2:
        from siamkit.pipelines.training_run import check_run_folder

        check_run_folder(Path(out), resume)  # before minutes of fold runs
        config = epochs_by_cross_validation(data, out, config, split)
    result = train(data, out, config, resume=resume, split=split)
    if not config.evaluate or not result.primary or not result.model_folder.is_dir():
        return result
    evaluation = evaluate_run(data, result.run_folder, config)
    result.metrics_path = evaluation.metrics_path
    result.report_path = evaluation.report_path
    log_verdict(evaluation.metrics)  # the last line a user reads: did training beat the untrained backbone?
    return result


def evaluate_run(data: str | os.PathLike, run_folder: str | os.PathLike, config: TrainConfig):
    """Measure a run folder's model on its test identities, as the end of training does."""
    from siamkit.pipelines.evaluation_run import evaluate_model_folder

    run_folder = Path(run_folder)
    return evaluate_model_folder(
        run_folder / "model",
        data,
        run_folder,
        split="test",
        ways=config.ways,
        episodes=config.episodes,
        within_group=config.within_group,
        seed=config.seed,
        history=run_folder / "history.csv",
        strict_ways=False,
        shots=config.shots,
        plots=config.plots,
    )


def epochs_by_cross_validation(data: str | os.PathLike, out: str | os.PathLike, config: TrainConfig, split=None) -> TrainConfig:
    """``config`` with ``max_epochs`` at the peak of the mean validation curve over ``cv_folds`` folds
    of the training and validation identities (fold runs in ``OUT/cv``), training that many epochs
    and keeping the last; unchanged where nothing is trained (the closed form has no epochs)."""
    import dataclasses

    from siamkit.pipelines.cross_validation import cross_validate

    cv = cross_validate(data, Path(out) / "cv", config, folds=config.cv_folds, split=split)  # fold_config turns cv_folds off
    epochs = cv.best_epochs()
    if epochs is None:
        log.info("cross-validation: nothing was trained in the folds; max_epochs stays %d", config.max_epochs)
        return config
    log.info("cross-validation: %d of %d epochs at the peak of the mean validation curve (fold scores %s); training %d epochs "
             "and keeping the last", epochs, config.max_epochs, ", ".join(f"{s:.4f}" for s in cv.fold_scores()), epochs)
    # the folds' schedule (over max_epochs), stopped after the chosen epochs
    schedule = config.cosine_epochs if config.schedule == "cosine" else config.schedule_epochs
    return dataclasses.replace(config, max_epochs=epochs, schedule_epochs=schedule, patience=epochs + 1, keep="last")
