"""``siamkit tune``: search a recipe's settings by identity-fold cross-validation."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("tune")(tune_command)


def _space_help() -> str:
    from siamkit.pipelines.tuning_space import DIMENSIONS

    return "Settings to search, comma-separated [default: every one that applies to the recipe]: " + ", ".join(DIMENSIONS)


def tune_command(
    data: Path = typer.Argument(..., help="Folder of identity folders, a path,label CSV or IDX files (as for train)."),
    out: Path = typer.Option(Path("tune"), "--out", help="Study folder: study.db (run again to continue), best.yaml, trials.csv, tuning.html."),
    budget: str = typer.Option("30m", "--budget", help="Time for this search: 30m, 2h, 90s (new trials start only while time is left)."),
    config: Optional[Path] = typer.Option(None, "--config", help="The recipe to start from: a YAML file or a recipe by name."),
    folds: int = typer.Option(3, "--folds", help="Folds of the training and validation identities that score each trial."),
    trials: Optional[int] = typer.Option(None, "--trials", help="Stop after this many trials [default: when the budget is spent]."),
    space: Optional[str] = typer.Option(None, "--space", help=_space_help()),
    set_values: Optional[List[str]] = typer.Option(None, "--set", help="Any config key, fixed for every trial: --set batch_size=16 (repeatable)."),
) -> None:
    """Search learning rate, epochs, loss, miner, image size, trained stages, augmentation and embedding size."""
    from siamkit.cli.train_commands import parse_set_values
    from siamkit.pipelines.tuning import parse_budget

    from siamkit.io.outputs import check_output_folder

    parse_budget(budget)  # a typo is said before torch loads
    check_output_folder(out)
    names = [name.strip() for name in (space or "").split(",") if name.strip()]
    from siamkit.pipelines.tuning import tune

    result = tune(data, out, budget, config_path=config, overrides=parse_set_values(set_values or []), folds=folds,
                  trials=trials, space=names or None)
    typer.echo(f"best recipe: {result.best_yaml} (trial {result.best_trial}, validation ROC AUC {result.best_score:.4f} ± {result.best_spread:.4f})")
    typer.echo(f"tuning report: {result.report_path}")
