"""The tables of the evaluation report: the summary (headline metrics with their 95% intervals,
and beside them the untrained baseline and the change training made, green where it helped and
red where it hurt) and the details (every metric, flattened to one row per number). A missing
number stays a blank cell, or says why it could not be measured; it never looks measured.
"""

from __future__ import annotations

import html

from siamkit.evaluation.html_page import _Styled, _table

# Headline rows of the summary table: (label, path into the metrics dict).
SUMMARY_ROWS = (
    ("Verification ROC AUC", ("verification", "roc_auc")),
    ("Equal error rate (lower is better)", ("verification", "eer")),
    ("TPR at FPR 1%", ("verification", "tpr_at_fpr", "0.01")),
    ("TPR at FPR 0.1%", ("verification", "tpr_at_fpr", "0.001")),
    ("Verification accuracy at threshold", ("verification", "accuracy")),
    ("F1 at threshold", ("verification", "f1")),
    ("Threshold (distance)", ("verification", "threshold")),
    ("Precision@1", ("retrieval", "precision_at_1")),
    ("MAP@R", ("retrieval", "map_at_r")),
    ("Triplet accuracy", ("triplet_accuracy",)),
)

_LOWER_IS_BETTER = {"Equal error rate (lower is better)"}
_NO_DIRECTION = {"Threshold (distance)"}

# Values that are shown elsewhere or are too bulky for the details table.
_DETAIL_SKIP = {"roc", "classification_report"}
# Top-level sections that have their own table above the details.
_SHOWN_ABOVE = {"baseline", "protocol", "model", "timing"}


def _lookup(metrics: dict, path: tuple):
    for key in path:
        if not isinstance(metrics, dict) or key not in metrics:
            return None
        metrics = metrics[key]
    return metrics


def _summary_rows(metrics: dict) -> list[tuple[str, tuple]]:
    rows = list(SUMMARY_ROWS[:7])
    for k in (_lookup(metrics, ("retrieval", "recall_at_k")) or {}):
        rows.append((f"Recall@{k}", ("retrieval", "recall_at_k", k)))
    rows.extend(SUMMARY_ROWS[7:9])
    for ways, result in (metrics.get("one_shot") or {}).items():
        within = " (within group)" if isinstance(result, dict) and result.get("within_group") else ""
        rows.append((f"{ways}-way one-shot accuracy{within}", ("one_shot", ways)))
    for ways in (metrics.get("one_shot_across_groups") or {}):
        rows.append((f"{ways}-way one-shot accuracy (across groups)", ("one_shot_across_groups", ways)))
    for key, where in (("k_shot", ""), ("k_shot_across_groups", " (across groups)")):
        for shots, by_ways in (metrics.get(key) or {}).items():
            for ways, result in by_ways.items():
                within = " (within group)" if not where and isinstance(result, dict) and result.get("within_group") else where
                rows.append((f"{ways}-way {shots}-shot accuracy{within}", (key, shots, ways)))
    rows.extend(SUMMARY_ROWS[9:])
    return rows


def _with_interval(value: float, interval) -> str:
    low, high = interval
    return f"{value:.4f} (95% CI {low:.4f}\u2013{high:.4f})"


def _summary_value(metrics: dict, path: tuple):
    """The cell for ``path``: with its 95% interval where there is one, and the reason where an
    operating point could not be measured (never a number that only looks measured)."""
    value = _lookup(metrics, path)
    if isinstance(value, dict) and "accuracy" in value:  # one-shot: accuracy and its interval
        if value.get("ci95_low") is not None and value.get("ci95_high") is not None:
            return _with_interval(value["accuracy"], (value["ci95_low"], value["ci95_high"]))
        return f"{value['accuracy']:.4f} ± {value.get('ci95', 0.0):.4f}"  # metrics.json of older versions
    if value is None and path[:2] == ("verification", "tpr_at_fpr"):
        return _lookup(metrics, ("verification", "tpr_at_fpr_not_measurable", path[-1]))
    interval = _lookup(metrics, (*path[:-1], f"{path[-1]}_ci95"))
    if isinstance(value, float) and isinstance(interval, list) and len(interval) == 2:
        return _with_interval(value, interval)
    return value


def _name(part, fallback: str) -> str:
    if isinstance(part, dict):
        return str(part.get("name") or fallback)
    return str(part) if part else fallback


def _comparable(value):
    """The number a trained-vs-baseline change is computed on (one-shot: its accuracy)."""
    if isinstance(value, dict):
        value = value.get("accuracy")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _change(label: str, trained, baseline):
    """Trained minus baseline, green when training helped and red when it hurt; blank when the
    metric has no better direction (the threshold) or either side is missing."""
    trained, baseline = _comparable(trained), _comparable(baseline)
    if trained is None or baseline is None or label in _NO_DIRECTION:
        return None
    change = trained - baseline
    helped = -change if label in _LOWER_IS_BETTER else change
    css = "better" if helped > 5e-5 else "worse" if helped < -5e-5 else ""
    return _Styled(f"{change:+.4f}".replace("-", "\u2212"), css)


def _summary(metrics: dict) -> str:
    baseline = metrics.get("baseline")
    has_baseline = isinstance(baseline, dict) and isinstance(baseline.get("verification"), dict)
    columns = ["metric", _name(metrics.get("model"), "trained model")]
    if has_baseline:
        columns += [_name(baseline, "baseline: backbone before training"), "change (green: training helped)"]
    rows = []
    for label, path in _summary_rows(metrics):
        row = [label, _summary_value(metrics, path)]
        if has_baseline:
            row += [_summary_value(baseline, path), _change(label, _lookup(metrics, path), _lookup(baseline, path))]
        if any(value is not None for value in row[1:]):
            rows.append(row)
    return _table(columns, rows)


def _flatten(value, prefix="") -> list[tuple[str, object]]:
    if isinstance(value, dict):
        items = []
        for key, inner in value.items():
            if key not in _DETAIL_SKIP:
                items.extend(_flatten(inner, f"{prefix}{key}."))
        return items
    if isinstance(value, list) and (len(value) > 20 or not value):
        return []
    return [(prefix.rstrip("."), value)]


def _readable_skipped(skipped) -> str:
    """The skipped metrics as a reader wants them ("one_shot 20-way: reason; ..."), not as JSON."""
    if not isinstance(skipped, (list, tuple)):
        return str(skipped)
    described = []
    for item in skipped:
        if isinstance(item, dict):
            ways = f" {item['ways']}-way" if item.get("ways") is not None else ""
            name = f"{item.get('metric', 'metric')}{ways}"
            described.append(f"{name}: {item['reason']}" if item.get("reason") else name)
        else:
            described.append(str(item))
    return "; ".join(described)


def _detail_rows(metrics: dict) -> dict:
    rows = dict(_flatten({k: v for k, v in metrics.items() if k not in _SHOWN_ABOVE}))
    if "skipped" in rows:
        rows["skipped"] = _readable_skipped(rows["skipped"])
    return rows


def _details(metrics: dict) -> str:
    baseline = metrics.get("baseline")
    trained = _detail_rows(metrics)
    if not isinstance(baseline, dict):
        return _table(["metric", "value"], [(key, value) for key, value in trained.items()])
    base = _detail_rows(baseline)
    keys = list(trained) + [key for key in base if key not in trained]
    return _table(["metric", "trained", "baseline"], [(k, trained.get(k), base.get(k)) for k in keys])


def _extra_tables(extra_tables) -> list[str]:
    parts = []
    for table in extra_tables or ():
        columns = list(table["columns"])
        rows = [[row.get(c) for c in columns] if isinstance(row, dict) else list(row) for row in table["rows"]]
        parts.append(f"<h2>{html.escape(str(table.get('title', 'Table')))}</h2>")
        parts.append(_table(columns, rows))
    return parts
