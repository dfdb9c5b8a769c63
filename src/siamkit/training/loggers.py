"""``--logger``: Lightning's own experiment loggers, in the run folder, beside ``history.csv``.

``csv`` needs nothing more; ``tensorboard`` and ``mlflow`` need their packages (the extras
``siamkit[tensorboard]`` and ``siamkit[mlflow]``), and a missing one is said in one line before
any training starts. Every logger writes under the run folder, so a run stays one folder:
``RUN/logs/`` (csv), ``RUN/tensorboard/`` (``tensorboard --logdir RUN/tensorboard``) and
``RUN/mlruns/`` (``mlflow ui --backend-store-uri RUN/mlruns``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from siamkit.errors import SiamkitError

LOGGERS = ("none", "csv", "tensorboard", "mlflow")
_NEEDS = {"tensorboard": (("tensorboard", "tensorboardX"), "tensorboard"), "mlflow": (("mlflow",), "mlflow")}


def check_logger_installed(name: str) -> None:
    """Refuse ``--logger NAME`` in one line when its package is not installed."""
    if name not in _NEEDS:
        return
    modules, extra = _NEEDS[name]
    if not any(importlib.util.find_spec(module) is not None for module in modules):
        raise SiamkitError(f"--logger {name} needs the {modules[0]} package: pip install \"siamkit[{extra}]\" (or --logger csv)")


def make_logger(name: str, run: Path):
    """The Lightning logger for ``name`` writing under ``run``, or False for none."""
    check_logger_installed(name)
    if name == "none":
        return False
    if name == "csv":
        from lightning.pytorch.loggers import CSVLogger

        return CSVLogger(save_dir=str(run), name="logs", version="")
    if name == "tensorboard":
        from lightning.pytorch.loggers import TensorBoardLogger

        return TensorBoardLogger(save_dir=str(run), name="tensorboard", version="", default_hp_metric=False)
    from lightning.pytorch.loggers import MLFlowLogger

    return MLFlowLogger(experiment_name="siamkit", run_name=run.name, tracking_uri=(run / "mlruns").resolve().as_uri())
