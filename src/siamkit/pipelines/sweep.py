"""``siamkit sweep``: one training run per value of one option, side by side.

Every run trains on the same train identities, picks its threshold on the same validation
identities and is measured on the same test identities: the first run makes ``split.json`` and
every later run is handed that split, so the only thing that differs between runs is the option
being varied. Varying an option that decides the split (``fold``, ``split_by``, ``seed``,
``closed_set``) is the exception: each run then makes the split its own config describes, so each
run of ``--vary fold=1/5,...,5/5`` is tested on its own fold. Runs go to ``OUT/<key>=<value>/``
(each a full run folder with its own report); ``OUT/sweep.csv`` and ``OUT/sweep.html`` put their
numbers side by side. A run folder that already holds a finished run with the same settings is
reused, so an interrupted sweep can be restarted.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from siamkit.errors import SiamkitError
from siamkit.io.atomic import write_text_atomic
from siamkit.training.config import TrainConfig, find_config, load_config

log = logging.getLogger("siamkit")

_FIXED_IN_A_SWEEP = {
    "split": "its fractions hold commas, which separate --vary values; set it for every run with --set split=...",
    "evaluate": "every run of a sweep is evaluated",
}

# Options that decide which identities a run trains, validates and is tested on (make_split's
# arguments): varying one gives every run the split its own config describes.
SPLIT_OPTIONS = ("fold", "split_by", "seed", "closed_set", "split")

_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")

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


def parse_vary(vary: list[str] | str) -> tuple[str, list[tuple[str, object]]]:
    """``["margin=0.25,0.5"]`` -> ``("margin", [("0.25", 0.25), ("0.5", 0.5)])``; values read as YAML scalars."""
    import yaml

    items = [vary] if isinstance(vary, str) else list(vary or [])
    if len(items) != 1:
        raise SiamkitError(f"--vary given {len(items)} times; a sweep varies exactly one option, e.g. --vary lr=3e-5,1e-4,3e-4")
    key, sep, text = items[0].partition("=")
    key = key.strip().replace("-", "_")
    texts = [t.strip() for t in text.split(",")]
    if not sep or not key or not any(texts) or not all(texts):
        raise SiamkitError(f"--vary '{items[0]}': expected KEY=V1,V2,... e.g. lr=3e-5,1e-4,3e-4")
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    if key not in names:
        import difflib

        close = difflib.get_close_matches(key, names, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise SiamkitError(f"--vary '{key}': unknown training option{hint}")
    if key in _FIXED_IN_A_SWEEP:
        raise SiamkitError(f"--vary '{key}': cannot vary, {_FIXED_IN_A_SWEEP[key]}")
    values = []
    for value_text in texts:
        try:
            value = yaml.safe_load(value_text)
        except yaml.YAMLError:
            raise SiamkitError(f"--vary {key}={value_text}: cannot read the value") from None
        if isinstance(value, str) and _FLOAT.fullmatch(value):
            value = float(value)  # YAML 1.1 reads 1e-3 (no dot) as a string; a learning-rate sweep means the number
        values.append((value_text, value))
    folders = [_folder_name(key, t) for t, _ in values]
    if len(set(folders)) != len(folders):
        raise SiamkitError(f"--vary '{items[0]}': the same value is listed twice")
    return key, values


def _folder_name(key: str, value_text: str) -> str:
    return f"{key}={re.sub(r'[^A-Za-z0-9._+-]', '_', value_text)}"


def _configs(key: str, values, config_path, overrides: dict | None) -> list[TrainConfig]:
    """Every run's full config, checked before the first run starts (a typo in the last value
    should not surface hours into a sweep)."""
    overrides = dict(overrides or {})
    if key in overrides:
        raise SiamkitError(f"--set {key}: that option is the one given to --vary")
    config_file = find_config(config_path) if config_path is not None else None  # its errors name --config, not a --vary value
    configs = []
    for value_text, value in values:
        try:
            config = load_config(config_file, {**overrides, key: value})
        except SiamkitError as exc:
            raise SiamkitError(f"--vary {key}={value_text}: {exc}") from None
        configs.append(dataclasses.replace(config, evaluate=True))
    _check_option_matters(key, configs)
    return configs


def _check_option_matters(key: str, configs: list[TrainConfig]) -> None:
    """Refuse a sweep whose runs would all train the same model: a table of different margins
    over identical runs reads as "the margin does not matter" when it was never used."""
    from siamkit.training.losses import margin_is_used, miner_is_used

    checks = {
        "margin": (margin_is_used, lambda c: f"the {c.loss} loss ignores the margin (only a semi-hard miner would use it)"),
        "miner": (miner_is_used, lambda c: "no miner runs with " + ("--loss arcface" if c.loss == "arcface" else "--sampling fixed")),
    }
    if key not in checks:
        return
    used, reason = checks[key]
    ignored = [config for config in configs if not used(config)]
    if len(ignored) == len(configs):
        raise SiamkitError(
            f"--vary {key}: {reason(configs[0])}, so every run would train the same model; "
            f"vary an option that matters (e.g. lr or embedding_dim) or choose settings that use {key}"
        )
    for config in ignored:
        log.warning("sweep: %s=%s changes nothing: %s", key, getattr(config, key), reason(config))


def _finished(run: Path, config: TrainConfig, split_path: Path | None) -> bool:
    """A finished run (model, metrics) trained with exactly these settings and the sweep's split
    (``split_path``; None for the first run, or where each run makes its own split): safe to reuse."""
    import yaml

    needed = ("metrics.json", "model/config.json", "config.yaml", "split.json")
    if not all((run / name).is_file() for name in needed):
        return False
    try:
        same_config = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8")) == config.to_dict()
        same_split = split_path is None or (run / "split.json").read_bytes() == split_path.read_bytes()
    except (OSError, yaml.YAMLError):
        return False
    return same_config and same_split


def _train_and_evaluate(data, run: Path, config: TrainConfig, split) -> None:
    """Every sweep run is evaluated on the shared test identities, whatever ``evaluate`` says."""
    import dataclasses

    from siamkit.pipelines.train_and_evaluate import train_and_evaluate

    train_and_evaluate(data, run, dataclasses.replace(config, evaluate=True), split=split)


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


def run_sweep(
    data: str | os.PathLike,
    out: str | os.PathLike,
    vary: list[str] | str,
    config_path: str | os.PathLike | None = None,
    overrides: dict | None = None,
) -> SweepResult:
    """Train and evaluate one run per value in ``vary`` (e.g. ``["lr=3e-5,1e-4,3e-4"]``), all on one
    split unless the varied option decides the split (``SPLIT_OPTIONS``); options come from
    ``config_path`` and ``overrides`` as for ``siamkit train``."""
    key, values = parse_vary(vary)
    configs = _configs(key, values, config_path, overrides)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    shared_split, split_path = None, None
    own_splits = key in SPLIT_OPTIONS  # each run makes the split its config describes
    if own_splits:
        log.info("sweep: %s decides the split, so each run makes its own", key)
    rows = []
    for number, ((value_text, value), config) in enumerate(zip(values, configs), start=1):
        run = out / _folder_name(key, value_text)
        if _finished(run, config, split_path):
            log.info("sweep run %d/%d %s=%s: reusing the finished run in %s", number, len(values), key, value_text, run)
        else:
            if (run / "checkpoints" / "last.ckpt").is_file():
                raise SiamkitError(f"{run}: holds an unfinished run or one with other settings; remove it or use another --out")
            log.info("sweep run %d/%d: %s=%s -> %s", number, len(values), key, value_text, run)
            _train_and_evaluate(data, run, config, shared_split)
        if shared_split is None and not own_splits:
            from siamkit.data.splits import Split

            split_path = run / "split.json"
            shared_split = Split.load(split_path)
        rows.append(_run_row(key, value, run, out))

    columns = _columns(rows)
    csv_path = out / "sweep.csv"
    _write_csv(csv_path, columns, rows)
    html_path = _write_html(out, key, columns, rows, split_path)
    result = SweepResult(out, key, [v for _, v in values], columns, rows, csv_path, html_path)
    for line in result.table_text().splitlines():
        log.info("%s", line)
    log.info("sweep table: %s and %s", csv_path, html_path)
    return result
