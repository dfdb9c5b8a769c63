"""``siamkit evaluate`` and ``siamkit sweep``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

# One-shot settings when --ways is not given; the help shows this same value.
DEFAULT_WAYS = "5,20"


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate_command)
    app.command("sweep")(sweep_command)


def evaluate_command(
    model: Path = typer.Argument(..., help="Model folder (config.json + model.safetensors)."),
    data: Path = typer.Argument(..., help="Dataset folder or CSV; a training folder's test split with --split test."),
    out: Path = typer.Option(..., "--out", help="Folder for metrics.json, report.html and plots."),
    split: str = typer.Option("test", help="test: only the run's test identities (when DATA is its training data); all: every image."),
    pairs: Optional[int] = typer.Option(None, "--pairs", help="Sample N positive pairs (default: all) and as many negatives."),
    ways: Optional[str] = typer.Option(None, help=f"N-way one-shot settings, comma separated [default: {DEFAULT_WAYS}, skipping those the data cannot support]."),
    shots: str = typer.Option("1", help="Support images per identity in the N-way episodes, comma separated (1,5: one-shot and 5-shot)."),
    episodes: int = typer.Option(400, help="One-shot episodes per setting."),
    within_group: bool = typer.Option(False, "--within-group", help="Draw each episode's identities from one group (e.g. one Omniglot alphabet)."),
    seed: int = typer.Option(0, help="Seed for pairs and episodes (same seed, same numbers)."),
    baseline: bool = typer.Option(True, "--baseline/--no-baseline", help="Also measure the untrained backbone."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Draw the report's figures (--no-plots: numbers only, faster)."),
) -> None:
    """Measure a model on identities it never trained on; write metrics.json and report.html."""
    from siamkit.io.outputs import check_output_folder

    check_output_folder(out)
    from siamkit.pipelines.evaluation_run import evaluate_model_folder

    history = model.parent / "history.csv"
    result = evaluate_model_folder(
        model, data, out, split=split, ways=ways or DEFAULT_WAYS, episodes=episodes, within_group=within_group,
        seed=seed, max_pairs=pairs, history=history if history.is_file() else None, baseline=baseline,
        strict_ways=ways is not None, shots=shots, plots=plots,
    )
    typer.echo(f"metrics: {result.metrics_path}")
    typer.echo(f"report: {result.report_path}")


def sweep_command(
    data: Path = typer.Argument(..., help="Folder of identity folders or a path,label CSV (as for train)."),
    out: Path = typer.Option(..., "--out", help="Sweep folder: one run folder per value, sweep.csv and sweep.html."),
    vary: List[str] = typer.Option(..., "--vary", help="The one option to vary and its values: --vary margin=0.25,0.5,1,2."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML file of options, or a recipe by name, shared by every run."),
    set_values: Optional[List[str]] = typer.Option(None, "--set", help="Any config key for every run: --set max_epochs=5 (repeatable)."),
) -> None:
    """Train one run per value of one option, all on the same split, and compare them on test identities."""
    from siamkit.cli.train_commands import parse_set_values
    from siamkit.io.outputs import check_output_folder

    check_output_folder(out)
    from siamkit.pipelines.sweep import run_sweep

    result = run_sweep(data, out, vary, config_path=config, overrides=parse_set_values(set_values or []))
    typer.echo(f"sweep table: {result.csv_path}")
    typer.echo(f"sweep report: {result.html_path}")
