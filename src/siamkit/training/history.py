"""``history.csv``: one row per epoch, the numbers the report's training curves are drawn from."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import lightning as L

from siamkit.io.atomic import write_text_atomic

COLUMNS = ("epoch", "train_loss", "val_loss", "val_roc_auc", "lr")


def _number(value) -> str:
    if value is None:
        return ""
    value = float(value)
    return "" if math.isnan(value) else f"{value:.6g}"


class HistoryWriter(L.Callback):
    """Rewrites the whole file atomically each epoch, keeping rows of earlier (resumed) runs."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.rows: list[dict] = []
        self._epoch_lr = None
        if self.path.is_file():
            with open(self.path, newline="") as handle:
                self.rows = list(csv.DictReader(handle))

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        # The scheduler steps before epoch end hooks run: record the rate this epoch trained with.
        self._epoch_lr = trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else None

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        # Runs after the epoch's validation, so this epoch's validation numbers are in place.
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        metrics = trainer.callback_metrics
        epoch = trainer.current_epoch + 1
        lr = self._epoch_lr
        row = {
            "epoch": str(epoch),
            "train_loss": _number(getattr(module, "epoch_train_loss", None)),
            "val_loss": _number(metrics.get("val_loss")),
            "val_roc_auc": _number(metrics.get("val_roc_auc")),
            "lr": _number(lr),
        }
        self.rows = [r for r in self.rows if r.get("epoch") != row["epoch"]] + [row]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(self.rows)
        write_text_atomic(self.path, buffer.getvalue())
