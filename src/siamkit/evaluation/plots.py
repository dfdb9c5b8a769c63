"""The evaluation figures: each function writes one PNG sized for the HTML report and returns its path.

This module draws the charts of numbers: the ROC curve, pair distances against the threshold,
the confusion matrix, training curves and a sweep's metrics. The figures of images and embeddings
live in :mod:`~siamkit.evaluation.image_grids` and :mod:`~siamkit.evaluation.embedding_map` and
are re-exported here, so every plot still imports from this module; all of them are drawn on
:mod:`~siamkit.evaluation.canvas` (an explicit Agg canvas, never ``pyplot``).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from siamkit.errors import SiamkitError
from siamkit.evaluation.canvas import DPI  # noqa: F401  (moved; old import path)
from siamkit.evaluation.canvas import QUERY, RIGHT, WRONG, _figure, _save
from siamkit.evaluation.embedding_map import TSNE_MAX_POINTS, plot_embedding_projection  # noqa: F401  (moved; old import path)
from siamkit.evaluation.image_grids import plot_hardest_false_matches, plot_retrieval_grid  # noqa: F401  (moved; old import path)


def plot_roc(out_path, fpr, tpr, roc_auc=None, operating_point=None, title="ROC curve") -> Path:
    """ROC on linear and log false-accept axes; ``operating_point`` = (fpr, tpr) at the threshold.

    The log panel matters because deployments live at FPR 1e-2 .. 1e-4, invisible on a linear axis.
    """
    fpr, tpr = np.asarray(fpr, dtype=float), np.asarray(tpr, dtype=float)
    figure = _figure(10, 4.2)
    label = "model" if roc_auc is None else f"model (AUC = {roc_auc:.4f})"
    for axes, log_x in zip(figure.subplots(1, 2), (False, True)):
        shown = fpr > 0 if log_x else np.ones_like(fpr, bool)
        axes.plot(fpr[shown], tpr[shown], color=QUERY, lw=2, label=label)
        if log_x:
            axes.set_xscale("log")
            smallest = fpr[shown].min() if shown.any() else 1e-3
            axes.set_xlim(max(1e-6, min(1e-3, smallest)), 1)
        else:
            axes.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="chance")
            axes.set_xlim(0, 1)
        if operating_point is not None and (not log_x or operating_point[0] > 0):
            axes.plot(*operating_point, "o", color=WRONG, ms=8,
                      label=f"threshold (FPR {operating_point[0]:.3f}, TPR {operating_point[1]:.3f})")
        axes.set_ylim(0, 1.01)
        axes.set_xlabel("false positive rate (different pairs accepted)" + (", log scale" if log_x else ""))
        axes.set_ylabel("true positive rate (same pairs accepted)")
        axes.grid(alpha=0.3)
        axes.legend(loc="lower right", fontsize=8)
    figure.suptitle(title)
    return _save(figure, out_path)


def plot_distance_histograms(out_path, distances, same, threshold=None, title="Pair distances") -> Path:
    """Distance histograms of same vs different pairs, with the decision threshold as a line."""
    distances, same = np.asarray(distances, dtype=float), np.asarray(same, dtype=bool)
    figure = _figure(7, 4.2)
    axes = figure.subplots()
    bins = np.linspace(distances.min(), distances.max() + 1e-9, 50)
    axes.hist(distances[same], bins=bins, alpha=0.6, color=RIGHT, label=f"same identity ({same.sum()})")
    axes.hist(distances[~same], bins=bins, alpha=0.6, color=WRONG, label=f"different identity ({(~same).sum()})")
    if threshold is not None:
        axes.axvline(threshold, color="black", ls="--", lw=1.5, label=f"threshold = {threshold:.3f}")
    axes.set_xlabel("Euclidean distance between L2-normalised embeddings")
    axes.set_ylabel("pairs")
    axes.set_title(title)
    axes.legend(fontsize=8)
    return _save(figure, out_path)


def plot_confusion_matrix(out_path, matrix, class_names=("different", "same"), title="Confusion matrix") -> Path:
    """A 2x2 confusion matrix, rows = truth, columns = prediction, as [[tn, fp], [fn, tp]]."""
    matrix = np.asarray(matrix, dtype=float)
    figure = _figure(4.6, 4)
    axes = figure.subplots()
    axes.imshow(matrix, cmap="Blues")
    for (row, col), value in np.ndenumerate(matrix):
        dark = value > matrix.max() / 2
        axes.text(col, row, f"{int(value)}", ha="center", va="center", color="white" if dark else "black", fontsize=13)
    ticks = range(len(class_names))
    axes.set_xticks(ticks, [f"predicted {name}" for name in class_names])
    axes.set_yticks(ticks, [f"true {name}" for name in class_names])
    axes.set_title(title)
    return _save(figure, out_path)


def _read_history(history_csv) -> dict[str, list[float]]:
    path = Path(history_csv)
    if not path.is_file():
        raise SiamkitError(f"{path}: training history not found")
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "epoch" not in rows[0]:
        raise SiamkitError(f"{path}: expected a CSV with an 'epoch' column and one row per epoch")

    def column(name):
        values = []
        for row in rows:
            text = (row.get(name) or "").strip()
            values.append(float(text) if text else math.nan)
        return values

    return {name: column(name) for name in ("epoch", "train_loss", "val_loss", "val_roc_auc", "lr")}


def plot_training_curves(out_path, history_csv, title="Training curves") -> Path:
    """Loss, validation ROC AUC and learning rate per epoch from ``history.csv``; blanks are gaps."""
    history = _read_history(history_csv)
    epoch = np.asarray(history["epoch"])
    figure = _figure(12, 3.8)
    panels = figure.subplots(1, 3)
    series = [
        (panels[0], "train_loss", "train loss", QUERY),
        (panels[0], "val_loss", "validation loss", WRONG),
        (panels[1], "val_roc_auc", "validation ROC AUC", RIGHT),
        (panels[2], "lr", "learning rate", "black"),
    ]
    for axes, key, label, colour in series:
        values = np.asarray(history[key])
        if np.isfinite(values).any():
            axes.plot(epoch, values, marker="o", ms=3, color=colour, label=label)
    auc = np.asarray(history["val_roc_auc"])
    if np.isfinite(auc).any():
        # Training keeps the checkpoint of this epoch: mark it, so a reader sees what was kept
        # and whether later epochs only made things worse.
        best = epoch[int(np.nanargmax(auc))]
        for number, axes in enumerate(panels):
            axes.axvline(best, color="grey", ls=":", lw=1.5,
                         label=f"best: epoch {best:g} (kept)" if number == 1 else None)
    for axes, ylabel in zip(panels, ("loss", "ROC AUC", "learning rate")):
        axes.set_xlabel("epoch")
        axes.set_ylabel(ylabel)
        axes.grid(alpha=0.3)
        if axes.lines:
            axes.legend(fontsize=8)
        else:
            axes.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=axes.transAxes, color="grey")
    lr = np.asarray(history["lr"])
    if np.isfinite(lr).any() and np.nanmin(lr) > 0:
        panels[2].set_yscale("log")
    figure.suptitle(title)
    return _save(figure, out_path)


def plot_metric_vs_parameter(out_path, parameter_values, metrics, parameter_name, title=None) -> Path:
    """Metrics of a sweep against the swept parameter; ``metrics`` = {metric name: [value per run]}.

    Non-numeric parameter values (backbone names, loss names) are placed evenly as categories.
    """
    values = list(parameter_values)
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    x = np.asarray(values, dtype=float) if numeric else np.arange(len(values))
    order = np.argsort(x, kind="stable")
    figure = _figure(9, 4.2)
    axes = figure.subplots()
    for name, ys in metrics.items():
        ys = np.asarray([math.nan if y is None else y for y in ys], dtype=float)
        axes.plot(x[order], ys[order], marker="o", label=name)
    if not numeric:
        axes.set_xticks(x, [str(v) for v in values], rotation=20)
    elif len(x) > 1 and x.min() > 0 and x.max() / x.min() >= 10:
        axes.set_xscale("log")  # learning rates, weight decays: spread over decades
    axes.set_xlabel(parameter_name)
    axes.set_ylabel("metric value")
    axes.set_title(title or f"Metrics vs {parameter_name}")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))  # beside the lines, never over them
    return _save(figure, out_path)
