"""What ``siamkit tune`` leaves to read: ``trials.csv`` and ``tuning.html`` with its figures.

The figures: every trial's cross-validated score in the order they ran, with the best so far
(pruned trials at the mean they had when stopped); each searched setting against the score; how
much each setting mattered (Optuna's fANOVA importances, once enough trials finished); and the
best trial's validation curve on each fold, whose mean chose the recipe's epochs.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from pathlib import Path

import numpy as np

from siamkit.evaluation.canvas import QUERY, RIGHT, WRONG, _figure, _save
from siamkit.io.atomic import write_text_atomic

log = logging.getLogger("siamkit")


def _states():
    import optuna

    return optuna.trial.TrialState


def _score(trial) -> float:
    """A finished trial's value; a pruned trial's last running mean; NaN otherwise."""
    if trial.value is not None:
        return float(trial.value)
    if trial.intermediate_values:
        return float(trial.intermediate_values[max(trial.intermediate_values)])
    return float("nan")


def _seconds(trial) -> float:
    if trial.datetime_start and trial.datetime_complete:
        return (trial.datetime_complete - trial.datetime_start).total_seconds()
    return float("nan")


def _param_names(study) -> list[str]:
    names: list[str] = []
    for trial in study.trials:
        names += [name for name in trial.params if name not in names]
    return names


def trial_rows(study) -> tuple[list[str], list[dict]]:
    names = _param_names(study)
    columns = ["trial", "state", "cv_roc_auc", "spread", "folds_run", "best_epochs", "minutes", *names, "error"]
    rows = []
    for trial in study.trials:
        spread = trial.user_attrs.get("spread")
        rows.append({
            "trial": trial.number,
            "state": trial.state.name.lower(),
            "cv_roc_auc": _score(trial),
            "spread": spread,
            "folds_run": len(trial.user_attrs.get("fold_scores") or trial.intermediate_values),
            "best_epochs": trial.user_attrs.get("best_epochs"),
            "minutes": _seconds(trial) / 60,
            **{name: trial.params.get(name) for name in names},
            "error": trial.user_attrs.get("error"),
        })
    return columns, rows


def write_trials_csv(study, path: Path) -> Path:
    columns, rows = trial_rows(study)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None or (isinstance(v, float) and math.isnan(v)) else v) for k, v in row.items()})
    write_text_atomic(path, buffer.getvalue())
    return path


def plot_history(study, out_path: Path) -> Path:
    states = _states()
    figure = _figure(9, 4.2)
    axes = figure.subplots()
    done = [t for t in study.trials if t.state == states.COMPLETE]
    pruned = [t for t in study.trials if t.state == states.PRUNED and t.intermediate_values]
    if done:
        spreads = [t.user_attrs.get("spread") or 0.0 for t in done]
        axes.errorbar([t.number for t in done], [_score(t) for t in done], yerr=spreads, fmt="o", color=QUERY,
                      capsize=3, label="finished (± fold spread)")
    if pruned:
        axes.plot([t.number for t in pruned], [_score(t) for t in pruned], "x", color=WRONG, label="pruned (mean when stopped)")
    best, line = -math.inf, []
    for trial in sorted(done, key=lambda t: t.number):
        best = max(best, _score(trial))
        line.append((trial.number, best))
    if line:
        axes.step(*zip(*line), where="post", color=RIGHT, label="best so far")
    axes.set_xlabel("trial")
    axes.set_ylabel("mean validation ROC AUC over folds")
    axes.set_title("Search progress")
    axes.grid(alpha=0.3)
    if done or pruned:
        axes.legend(loc="lower right")
    return _save(figure, out_path)


def plot_slices(study, out_path: Path) -> Path | None:
    """Each searched setting against the cross-validated score (finished trials)."""
    states = _states()
    done = [t for t in study.trials if t.state == states.COMPLETE]
    names = _param_names(study)
    if not done or not names:
        return None
    columns = min(3, len(names))
    rows = math.ceil(len(names) / columns)
    figure = _figure(3.4 * columns, 2.8 * rows)
    grid = figure.subplots(rows, columns, squeeze=False)
    best = max(done, key=_score)
    for index, name in enumerate(names):
        axes = grid[index // columns][index % columns]
        points = [(t.params[name], _score(t), t is best) for t in done if name in t.params]
        values = [p[0] for p in points]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        if numeric:
            x = np.asarray(values, dtype=float)
        else:
            categories = sorted({str(v) for v in values})
            x = np.asarray([categories.index(str(v)) for v in values], dtype=float)
            axes.set_xticks(range(len(categories)))
            axes.set_xticklabels(categories, rotation=30, ha="right", fontsize=8)
        colours = [RIGHT if is_best else QUERY for _, _, is_best in points]
        axes.scatter(x, [p[1] for p in points], c=colours, s=22)
        if name in ("lr", "whiten_shrink") and numeric and np.all(x > 0):
            from matplotlib.ticker import NullFormatter

            axes.set_xscale("log")
            axes.xaxis.set_minor_formatter(NullFormatter())  # labels at the decades only: minor ones overlap
        axes.set_title(name, fontsize=10)
        axes.grid(alpha=0.3)
    for index in range(len(names), rows * columns):
        grid[index // columns][index % columns].axis("off")
    figure.suptitle("Each setting against the mean validation ROC AUC (green: the best trial)", fontsize=10)
    return _save(figure, out_path)


def plot_importances(study, out_path: Path) -> Path | None:
    """fANOVA importances; None when too few trials finished to estimate them."""
    import warnings

    import optuna

    states = _states()
    done = [t for t in study.trials if t.state == states.COMPLETE]
    if len(done) < 4 or len(_param_names(study)) < 2:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            importances = optuna.importance.get_param_importances(study)
    except (RuntimeError, ValueError) as error:  # e.g. every finished trial drew the same values
        log.info("tune: parameter importances not estimated (%s)", error)
        return None
    if not importances:
        return None
    names = list(importances)[::-1]
    figure = _figure(7, 0.45 * len(names) + 1.4)
    axes = figure.subplots()
    axes.barh(names, [importances[n] for n in names], color=QUERY)
    axes.set_xlabel("share of the score's variance (fANOVA)")
    axes.set_title(f"How much each setting mattered ({len(done)} finished trials)")
    return _save(figure, out_path)


def plot_fold_curves(best, out_path: Path, folds_folder: Path) -> Path | None:
    """The best trial's validation ROC AUC per epoch on each fold, and their mean."""
    from siamkit.pipelines.cross_validation import read_curve

    curves = [read_curve(folder / "history.csv") for folder in sorted(folds_folder.glob("fold-*"))]
    curves = [c for c in curves if c]
    if not curves:
        return None
    figure = _figure(8, 4)
    axes = figure.subplots()
    for number, curve in enumerate(curves, start=1):
        axes.plot(range(1, len(curve) + 1), curve, color="#999999", lw=1, label="each fold" if number == 1 else None)
    length = min(len(c) for c in curves)
    mean = np.mean([c[:length] for c in curves], axis=0)
    axes.plot(range(1, length + 1), mean, color=QUERY, lw=2, label="mean")
    peak = int(np.nanargmax(mean)) + 1
    axes.axvline(peak, color=RIGHT, ls="--", label=f"peak: {peak} epochs")
    axes.set_xlabel("epoch")
    axes.set_ylabel("validation ROC AUC")
    axes.set_title(f"Best trial ({best.number}): validation curve on each fold")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    return _save(figure, out_path)


def write_tuning_report(study, out: Path, best, folds: int, data) -> Path:
    from siamkit.evaluation.html_page import write_table_html

    columns, rows = trial_rows(study)
    plots_folder = out / "plots"
    plots = {
        "Search progress": plot_history(study, plots_folder / "history.png"),
        "Each setting against the score": plot_slices(study, plots_folder / "slices.png"),
        "How much each setting mattered": plot_importances(study, plots_folder / "importances.png"),
        "The best trial on each fold": plot_fold_curves(best, plots_folder / "fold_curves.png", out / "trials" / f"{best.number:03d}"),
    }
    scores = best.user_attrs.get("fold_scores") or []
    note = (
        f"Every trial trained {folds} runs on {Path(data).resolve()}, one per fold of the training and validation "
        "identities, each validated on its held-out fold; the test identities were never used. The score is the mean "
        f"validation ROC AUC over the folds after the epoch count where that mean peaks. Best: trial {best.number}, {best.value:.4f}"
        + (f" (folds: {', '.join(f'{s:.4f}' for s in scores)})" if scores else "")
        + ". Pruned trials stopped after a fold where their running mean fell below the median of earlier trials. "
        "best.yaml holds the best recipe, its max_epochs at the peak of the mean validation curve."
    )
    return write_table_html(out / "tuning.html", rows, columns, f"siamkit tune: {len(study.trials)} trials", plots=plots, note=note)
