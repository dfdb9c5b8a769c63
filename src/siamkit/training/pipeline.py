"""Train, then measure on the held-out test identities, so every run folder has a report."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from siamkit.training.config import TrainConfig
from siamkit.training.run import TrainResult, train

log = logging.getLogger("siamkit")


def train_and_evaluate(
    data: str | os.PathLike, out: str | os.PathLike, config: TrainConfig, resume: bool = False, split=None
) -> TrainResult:
    result = train(data, out, config, resume=resume, split=split)
    if not config.evaluate or not result.primary or not result.model_folder.is_dir():
        return result
    from siamkit.evaluation.run_evaluation import evaluate_model_folder

    evaluation = evaluate_model_folder(
        result.model_folder,
        data,
        result.run_folder,
        split="test",
        ways=config.ways,
        episodes=config.episodes,
        within_group=config.within_group,
        seed=config.seed,
        history=result.run_folder / "history.csv",
        strict_ways=False,
    )
    result.metrics_path = evaluation.metrics_path
    result.report_path = evaluation.report_path
    return result
