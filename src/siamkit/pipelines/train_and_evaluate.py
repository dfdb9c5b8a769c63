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
