"""``--logger``: Lightning's experiment loggers write under the run folder; a missing package is one line."""

import csv

import pytest

from siamkit.errors import SiamkitError
from siamkit.pipelines.training_run import train
from siamkit.training import loggers
from siamkit.training.config import load_config
from tests.conftest import tiny_train_settings


def test_the_csv_logger_writes_every_epoch_under_the_run_folder(tiny_dataset, tmp_path):
    run = tmp_path / "run"
    train(tiny_dataset, run, load_config(None, tiny_train_settings(logger="csv", max_epochs=2)))
    with open(run / "logs" / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    epochs = {row["epoch"] for row in rows if row.get("val_roc_auc")}
    assert epochs == {"0", "1"} and any(row.get("train_loss_epoch") for row in rows)
    assert (run / "history.csv").is_file()  # history.csv is written either way


def test_no_logger_by_default_writes_no_logs_folder(tiny_dataset, tmp_path):
    train(tiny_dataset, tmp_path / "run", load_config(None, tiny_train_settings()))
    assert not (tmp_path / "run" / "logs").exists() and not (tmp_path / "run" / "lightning_logs").exists()


@pytest.mark.parametrize("name", ["tensorboard", "mlflow"])
def test_a_logger_whose_package_is_missing_is_refused_before_training(tiny_dataset, tmp_path, monkeypatch, name):
    monkeypatch.setattr(loggers.importlib.util, "find_spec", lambda module: None)
    with pytest.raises(SiamkitError, match=rf'--logger {name} needs the .* package: pip install "siamkit\[{name}\]"'):
        train(tiny_dataset, tmp_path / "run", load_config(None, tiny_train_settings(logger=name)))
    assert not (tmp_path / "run").exists()


def test_an_unknown_logger_is_a_config_error():
    with pytest.raises(SiamkitError, match="--logger"):
        load_config(None, tiny_train_settings(logger="wandb"))


def test_the_tensorboard_logger_writes_events_where_it_is_installed(tiny_dataset, tmp_path):
    pytest.importorskip("tensorboard", reason="tensorboard is an optional extra: pip install 'siamkit[tensorboard]'")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    train(tiny_dataset, run, load_config(None, tiny_train_settings(logger="tensorboard", max_epochs=2)))
    (events,) = (run / "tensorboard").glob("events.out.tfevents.*")
    accumulator = EventAccumulator(str(events))
    accumulator.Reload()
    assert len(accumulator.Scalars("val_roc_auc")) == 2 and "train_loss_epoch" in accumulator.Tags()["scalars"]
