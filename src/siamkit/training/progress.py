"""Training progress that suits where it goes (issue 16 item 2).

On a terminal: Lightning's bar on stderr, its epochs counted from 1 as in ``history.csv``.
Redirected to a file or a pipe: no bar (a redrawn bar is kilobytes of ``\\r`` and escape codes
per epoch there), one log line per epoch instead::

    siamkit: epoch 3/15: train_loss 0.5329, val_roc_auc 0.9860, val_loss 0.7728 (11.2 s)
"""

from __future__ import annotations

import logging
import time

from lightning.pytorch.callbacks import Callback, TQDMProgressBar

from siamkit.io.terminal import progress_mode

log = logging.getLogger("siamkit")


def _epoch_of(trainer) -> str:
    """``3/15`` for the third epoch (counted from 1, as history.csv counts)."""
    total = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else "?"
    return f"{trainer.current_epoch + 1}/{total}"


class EpochBar(TQDMProgressBar):
    """Lightning's bar, saying "epoch 1/15" for the first epoch (it says "Epoch 0")."""

    def on_train_epoch_start(self, trainer, *args) -> None:
        super().on_train_epoch_start(trainer, *args)
        self.train_progress_bar.set_description(f"epoch {_epoch_of(trainer)}")


class EpochLines(Callback):
    """One ``siamkit: epoch N/M: ...`` log line per epoch, for output that is not a terminal."""

    METRICS = ("train_loss", "val_roc_auc", "val_loss")

    def __init__(self) -> None:
        self._started = time.perf_counter()

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._started = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:  # after the epoch's validation, as history.csv
        if not trainer.is_global_zero:
            return
        metrics = trainer.callback_metrics
        values = []
        for name in self.METRICS:
            value = metrics.get(f"{name}_epoch", metrics.get(name))
            if value is not None:
                values.append(f"{name} {float(value):.4f}")
        seconds = time.perf_counter() - self._started
        log.info("epoch %s: %s (%.1f s)", _epoch_of(trainer), ", ".join(values) or "no metrics", seconds)


def progress_callbacks() -> list[Callback]:
    """The bar on a terminal, one line per epoch elsewhere (none with ``-q``: the lines are INFO)."""
    return [EpochBar(refresh_rate=1)] if progress_mode() is True else [EpochLines()]
