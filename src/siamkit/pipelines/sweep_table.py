"""The sweep's table: one row per run, read back from its folder, written as text, CSV and HTML.

Each row comes from the run folder's ``metrics.json`` and model config, so a reused run reads
the same as a fresh one. ``sweep.csv`` keeps one column per metric under its name; ``sweep.html``
and the text table turn it on its side, a column per run and a row per metric under a heading
for people, with the primary metrics plotted against the varied option and a note saying
whether every run was tested on the same split.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

from siamkit.io.atomic import write_text_atomic

# Columns plotted against the varied option: the numbers a reader compares runs by.
PRIMARY_METRICS = ("test_roc_auc", "test_eer", "precision_at_1", "map_at_r", "best_val_roc_auc")

# Headings for people (sweep.html, the plot); sweep.csv keeps the column names.
LABELS = {
    "best_val_roc_auc": "best val ROC AUC",
    "threshold": "threshold (from val)",
    "test_roc_auc": "test ROC AUC",
    "test_eer": "test EER (lower is better)",
    "test_tpr_at_fpr_0.01": "test TPR at FPR 1%",
    "test_accuracy": "test accuracy at threshold",
    "precision_at_1": "test precision@1",
    "map_at_r": "test MAP@R",
    "triplet_accuracy": "test triplet accuracy",
    "baseline_test_roc_auc": "test ROC AUC, backbone before training",
}


def _label(column: str) -> str:
    if column.startswith("one_shot_"):
        return f"test {column[len('one_shot_'):-3]}-way one-shot accuracy"
    return LABELS.get(column, column)


@dataclass
class SweepResult:
    """``rows``: one dict per run, in the order of the values, keyed by ``columns`` (the varied
    option's name first, then ``run``, the run folder relative to ``out``, then the metrics)."""

    out: Path
    key: str
    values: list
    columns: list[str]
    rows: list[dict]
    csv_path: Path
    html_path: Path

    def table_text(self) -> str:
        """The sweep as fixed-width text, one line per metric and one column per run."""
        header, body = _by_metric(self.key, self.columns, self.rows)
        cells = [header] + [[name, *(_text(value) for value in values)] for name, *values in body]
        widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
        return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in cells)


def _text(value, exact: bool = False) -> str:
    """A table cell: metrics to 4 decimals; the varied option's value (``exact``) as it is."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and not exact:
        return f"{value:.4f}"
    return str(value)


def _run_row(key: str, value, run: Path, out: Path) -> dict:
    """One table row, read back from the run folder (so fresh and reused runs look the same)."""
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    training = json.loads((run / "model" / "config.json").read_text(encoding="utf-8")).get("training", {})
    verification, retrieval = metrics.get("verification", {}), metrics.get("retrieval", {})
    baseline = metrics.get("baseline") or {}
    row = {
        key: value,
        "run": os.path.relpath(run, out),
        "epochs": training.get("epochs"),
        "best_val_roc_auc": training.get("best_val_roc_auc"),
        "threshold": verification.get("threshold"),
        "test_roc_auc": verification.get("roc_auc"),
        "test_eer": verification.get("eer"),
        "test_tpr_at_fpr_0.01": (verification.get("tpr_at_fpr") or {}).get("0.01"),
        "test_accuracy": verification.get("accuracy"),
        "precision_at_1": retrieval.get("precision_at_1"),
        "map_at_r": retrieval.get("map_at_r"),
    }
    for ways, result in sorted((metrics.get("one_shot") or {}).items(), key=lambda item: int(item[0])):
        row[f"one_shot_{ways}way"] = result.get("accuracy")
    row["triplet_accuracy"] = metrics.get("triplet_accuracy")
    row["baseline_test_roc_auc"] = (baseline.get("verification") or {}).get("roc_auc")
    return row


def _columns(rows: list[dict]) -> list[str]:
    columns: list[str] = []
    for row in rows:
        columns += [column for column in row if column not in columns]
    # One-shot columns appear in some rows only if the data could not support every N-way.
    one_shot = sorted((c for c in columns if c.startswith("one_shot_")), key=lambda c: int(c[len("one_shot_"):-3]))
    rest = [c for c in columns if not c.startswith("one_shot_")]
    at = rest.index("triplet_accuracy")
    return rest[:at] + one_shot + rest[at:]


def _by_metric(key: str, columns: list[str], rows: list[dict], label=str) -> tuple[list[str], list[list]]:
    """The sweep turned on its side for reading: a column per run (headed by its folder), a row
    per metric. A dozen metrics across a few runs fits a page; a few runs across a dozen metrics does not."""
    header = ["metric", *(row["run"] for row in rows)]
    body = [[label(column), *(row.get(column) for row in rows)] for column in columns if column not in (key, "run")]
    return header, body


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: "" if row.get(c) is None else row[c] for c in columns})
    write_text_atomic(path, buffer.getvalue())


def _write_html(out: Path, key: str, columns: list[str], rows: list[dict], split_path: Path | None) -> Path:
    from siamkit.evaluation.plots import plot_metric_vs_parameter
    from siamkit.evaluation.report import write_table_html

    plotted = [c for c in PRIMARY_METRICS[:-1] if c in columns]
    plotted += [c for c in columns if c.startswith("one_shot_")] + ["best_val_roc_auc"]
    series = {_label(name): [row.get(name) for row in rows] for name in plotted}
    figure = plot_metric_vs_parameter(
        out / "sweep_metrics.png", [row[key] for row in rows], series, key,
        title=f"Metrics vs {key} ({'same split for every run' if split_path else 'each run on its own split'})",
    )
    if split_path is None:
        shared = (
            f"Each run made its own split from its own {key} (split.json in each run folder), so runs "
            "are tested on different identities."
        )
    else:
        split = json.loads(split_path.read_text(encoding="utf-8"))
        counts = split.get("identity_counts", {})
        shared = (
            f"Every run trained on the same {split.get('protocol', '')} split ({split_path.name} in each run folder): "
            f"{counts.get('train', '?')} train / {counts.get('val', '?')} validation / {counts.get('test', '?')} test "
            "identities."
        )
    note = (
        f"{shared} The threshold and the best epoch were chosen on validation identities; test rows are "
        "measured on the test identities only. Each run's full report is RUN/report.html."
    )
    title = f"siamkit sweep: {key} = {', '.join(_text(row[key], exact=True) for row in rows)}"
    header, body = _by_metric(key, columns, rows, label=_label)
    return write_table_html(out / "sweep.html", body, header, title, plots={f"Metrics vs {key}": figure}, note=note)
