"""``siamkit train`` and ``siamkit demo``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def _defaults() -> dict:
    from dataclasses import MISSING, fields

    from siamkit.training.config import TrainConfig

    return {field.name: field.default for field in fields(TrainConfig) if field.default is not MISSING}


# The help shows the defaults TrainConfig really uses, read from it rather than copied here.
TRAIN_DEFAULTS = _defaults()


def with_default(text: str, key: str, flag_names: tuple[str, str] | None = None) -> str:
    """``text`` followed by ``[default: X]``, X the TrainConfig default of ``key`` (a flag's name for booleans)."""
    value = TRAIN_DEFAULTS[key]
    if value is None:
        return text
    if isinstance(value, bool) and flag_names is not None:
        value = flag_names[0] if value else flag_names[1]
    elif isinstance(value, float):
        value = f"{value:g}"
    return f"{text} [default: {value}]"


def _loss_help() -> str:
    from siamkit.losses import LOSSES

    return with_default(" | ".join(LOSSES.names()), "loss")


def _miner_help() -> str:
    from siamkit.losses import MINERS

    return with_default(f"{' | '.join(MINERS.names())}, for online batches", "miner")


def _margin_help() -> str:
    from siamkit.losses import LOSSES

    defaults = ", ".join(
        f"{name} {LOSSES.metadata(name)['default_margin']:g}" for name in LOSSES if LOSSES.metadata(name)["uses_margin"]
    )
    return f"Loss margin [default depends on the loss: {defaults}]"


def _sampling_help() -> str:
    from siamkit.sampling import SAMPLERS, sampling_modes

    described = {"online": "online (M-per-class or group batches + miner)", "fixed": "fixed (seeded pairs/triplets)"}
    modes = [described.get(mode, mode) for mode in sampling_modes()]
    named = [name for name in SAMPLERS if name not in sampling_modes()]
    return with_default(f"{' | '.join(modes)}, or a sampler by name: {', '.join(named)}", "sampling")


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
    app.command("demo")(demo_command)


def train_command(
    data: Path = typer.Argument(..., help="Folder of identity folders (leaf folder = identity) or a path,label CSV."),
    out: Path = typer.Option(..., "--out", help="Run folder to create (or continue with --resume)."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML file of options, or a recipe by name (siamkit recipes lists them); flags override it."),
    backbone: Optional[str] = typer.Option(None, help=with_default("Any timm model name", "backbone")),
    pretrained: Optional[str] = typer.Option(None, help=with_default("auto | none | PATH to a weights file", "pretrained")),
    loss: Optional[str] = typer.Option(None, help=_loss_help()),
    sampling: Optional[str] = typer.Option(None, help=_sampling_help()),
    miner: Optional[str] = typer.Option(None, help=_miner_help()),
    margin: Optional[float] = typer.Option(None, help=_margin_help()),
    embedding_dim: Optional[int] = typer.Option(None, help=with_default("Embedding size D", "embedding_dim")),
    image_size: Optional[int] = typer.Option(None, help=with_default("Square input size in pixels", "image_size")),
    batch_size: Optional[int] = typer.Option(None, help=with_default("Images per batch", "batch_size")),
    lr: Optional[float] = typer.Option(None, help=with_default("Learning rate of the head; the backbone gets lr x backbone_lr_scale", "lr")),
    max_epochs: Optional[int] = typer.Option(None, help=with_default("Upper bound on epochs", "max_epochs")),
    max_time: Optional[float] = typer.Option(None, help=with_default("Stop after this many minutes [default: no limit]", "max_time")),
    split: Optional[str] = typer.Option(None, help=with_default("Identity fractions train,val,test", "split")),
    closed_set: Optional[bool] = typer.Option(None, "--closed-set/--open-set", help=with_default("Split images inside identities instead of identities", "closed_set", ("--closed-set", "--open-set"))),
    split_by: Optional[str] = typer.Option(None, help=with_default("auto | identity | image | group (e.g. Omniglot alphabets) | predefined (the dataset's own split)", "split_by")),
    fold: Optional[str] = typer.Option(None, help="Cross-validation fold I/K: the I-th of K identity (or group) folds is the test set."),
    trainable_stages: Optional[int] = typer.Option(None, help=with_default("Backbone stages to train: 0 = frozen, -1 = all", "trainable_stages")),
    seed: Optional[int] = typer.Option(None, help=with_default("Seed for the split, sampling and initialisation", "seed")),
    device: Optional[str] = typer.Option(None, help=with_default("auto | cpu | cuda", "device")),
    patience: Optional[int] = typer.Option(None, help=with_default("Epochs without a better validation ROC AUC before stopping", "patience")),
    optimizer: Optional[str] = typer.Option(None, help=with_default("adam | adamw", "optimizer")),
    schedule: Optional[str] = typer.Option(None, help=with_default("cosine | plateau | none", "schedule")),
    m_per_class: Optional[int] = typer.Option(None, help=with_default("Images per identity in each online batch", "m_per_class")),
    workers: Optional[int] = typer.Option(None, help=with_default("Data-loading worker processes (-1 = automatic)", "workers")),
    logger: Optional[str] = typer.Option(None, help=with_default("Experiment logger beside history.csv: none | csv | tensorboard | mlflow (under the run folder)", "logger")),
    set_values: Optional[List[str]] = typer.Option(None, "--set", help="Any other config key: --set rotation=10 (repeatable)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint."),
    evaluate: Optional[bool] = typer.Option(None, "--evaluate/--no-evaluate", help=with_default("Evaluate on test identities at the end", "evaluate", ("--evaluate", "--no-evaluate"))),
) -> None:
    """Train a similarity model and write RUN/model (config.json + model.safetensors)."""
    from siamkit.io.outputs import check_output_folder
    from siamkit.training.config import load_config

    overrides = {
        "backbone": backbone, "pretrained": pretrained, "loss": loss, "sampling": sampling, "miner": miner,
        "margin": margin, "embedding_dim": embedding_dim, "image_size": image_size, "batch_size": batch_size,
        "lr": lr, "max_epochs": max_epochs, "max_time": max_time, "split": split, "closed_set": closed_set,
        "split_by": split_by, "fold": fold,
        "trainable_stages": trainable_stages, "seed": seed, "device": device, "evaluate": evaluate,
        "patience": patience, "optimizer": optimizer, "schedule": schedule, "m_per_class": m_per_class,
        "workers": workers, "logger": logger, **parse_set_values(set_values or []),
    }
    settings = load_config(config, overrides)
    check_output_folder(out)
    if not data.exists():  # said before torch loads (seconds), in the words scan_dataset uses
        from siamkit.errors import SiamkitError

        raise SiamkitError(f"{data}: dataset not found")
    # Imported after the options are checked: a typo in a flag should not wait for torch to load.
    from siamkit.pipelines.train_and_evaluate import train_and_evaluate

    result = train_and_evaluate(data, out, settings, resume=resume)
    if not result.primary:
        return
    typer.echo(f"model folder: {result.model_folder}")
    if result.report_path:
        typer.echo(f"report: {result.report_path}")


def parse_set_values(items: list[str]) -> dict:
    """``--set key=value`` pairs, values read as YAML scalars (numbers, booleans, strings)."""
    import yaml

    from siamkit.errors import SiamkitError

    values = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise SiamkitError(f"--set '{item}': expected KEY=VALUE")
        try:
            values[key.strip().replace("-", "_")] = yaml.safe_load(text)
        except yaml.YAMLError:
            raise SiamkitError(f"--set '{item}': cannot read the value") from None
    return values


def demo_command(
    out: Path = typer.Option(Path("runs/demo"), "--out", help="Where to write the demo run."),
) -> None:
    """Train and evaluate on characters drawn in matplotlib's fonts (offline, under a minute on a CPU)."""
    from siamkit.io.outputs import check_output_folder

    check_output_folder(out)
    from siamkit.demo import run_demo

    result = run_demo(out)
    typer.echo(f"model folder: {result.model_folder}")
    if result.report_path:
        typer.echo(f"report: {result.report_path}")
