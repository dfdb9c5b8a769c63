"""The evaluation report: one self-contained HTML file a person can read top to bottom.

Plots are embedded as base64 data URIs and the CSS is inline, so the file can be mailed,
attached to a ticket or opened offline years later and still show everything; it references
no external resource. Every piece of text from the metrics goes through :func:`html.escape`
(identity names and file paths come from users' folders). Files are written to a temporary
name in the same folder and moved into place with :func:`os.replace`, so a reader never sees
half a report.

``plots`` keys understood by :func:`write_report`, in reading order: ``training_curves``,
``roc``, ``distance_histograms``, ``confusion_matrix``, ``retrieval_grid``,
``hardest_false_matches``, ``embedding_projection``; any other key is shown after them.
"""

from __future__ import annotations

import html
from pathlib import Path

from siamkit.evaluation.html_page import (  # noqa: F401  (write_table_html is imported from here too)
    _format, _image, _page, _Styled, _table, _write_atomically, write_table_html,
)
from siamkit.evaluation.verdict import roc_aucs, training_helped

PLOT_SECTIONS = (
    ("training_curves", "Training curves"),
    ("roc", "ROC curve"),
    ("distance_histograms", "Distances of same vs different identity pairs"),
    ("confusion_matrix", "Confusion matrix at the chosen threshold"),
    ("retrieval_grid", "Retrieval examples"),
    ("hardest_false_matches", "Hardest false matches"),
    ("embedding_projection", "Embedding projection"),
)

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


def _protocol(metrics: dict) -> str:
    """One line: open- or closed-set first (it changes what the numbers mean), then the counts."""
    protocol = metrics.get("protocol")
    if isinstance(protocol, str):
        return f'<p class="protocol">{html.escape(protocol)}</p>'
    protocol = dict(protocol or {})
    setting = protocol.pop("setting", None)
    open_set = protocol.pop("open_set", None)
    if setting is None and open_set is not None:
        setting = "open-set" if open_set else "closed-set"
    text = str(setting).lower()
    if setting is None:
        headline = "open-set / closed-set: not stated"
    elif "training images" in text or text.startswith("mixed"):  # "mixed ...": metrics.json of older versions
        headline = "Not unseen data: the evaluation includes the training images"
    elif text == "unknown":
        headline = "Split unknown: not known whether the model trained on these images (open-set only if it did not)"
    elif "open" in text:
        headline = "Open-set: test identities were never seen in training"
    elif "shared by" in text and "train/test" not in text:
        headline = f"Not identity-disjoint: the dataset's own split has {text.split('shared by ')[-1].rstrip(')')} sharing identities"
    else:
        headline = "Closed-set: test identities also appear in training (different images)"
    for key in ("test_identities", "test_images"):
        if key not in protocol and key in metrics:
            protocol[key] = metrics[key]
    details = [f"{key.replace('_', ' ')}: {_format(value)}" for key, value in protocol.items()]
    text = " · ".join([headline, *details])
    return f'<p class="protocol"><strong>Protocol.</strong> {html.escape(text)}</p>'


def _threshold_note(metrics: dict) -> str:
    """Say where the threshold came from: a reader must know it was not tuned on the test set."""
    verification = metrics.get("verification") or {}
    if "threshold" not in verification:
        return ""
    rule = verification.get("threshold_rule", "unstated rule")
    text = (
        f"Distances are Euclidean between L2-normalised embeddings; a pair counts as the same identity "
        f"when its distance is at most {_format(verification['threshold'])}, a threshold chosen on "
        f"validation pairs by the '{rule}' rule and applied unchanged to "
        f"{_format(verification.get('pairs'))} test pairs."
    )
    return f'<p class="note">{html.escape(text)}</p>'


def _interval_note(metrics: dict) -> str:
    """Say what the 95% intervals cover, so nobody reads more into them than they hold."""
    verification = metrics.get("verification") or {}
    parts = []
    if verification.get("roc_auc_ci95") is not None:
        method = verification.get("ci95_method", "bootstrap over test identities")
        parts.append(f"95% intervals of ROC AUC and EER: {method}.")
    if any(isinstance(r, dict) and "ci95_low" in r for r in (metrics.get("one_shot") or {}).values()):
        parts.append(
            "One-shot intervals: Wilson score interval over the episodes; they cover episode sampling only, "
            "not which identities happen to be in the test set."
        )
    return f'<p class="note">{html.escape(" ".join(parts))}</p>' if parts else ""


def _verdict_banner(metrics: dict) -> list[str]:
    """At the very top, in words, when training did not beat the backbone it started from: the
    table says so too, but a reader skimming for the headline number must not miss it."""
    if training_helped(metrics) is not False:
        return []
    trained, baseline = roc_aucs(metrics)
    text = f"Training did not help: test ROC AUC {trained:.3f}, the untrained backbone scores {baseline:.3f} on the same images."
    return [f'<p class="protocol"><strong>{html.escape(text)}</strong></p>']


def _warning_notes(metrics: dict) -> list[str]:
    return [f'<p class="note"><strong>Warning:</strong> {html.escape(str(w))}</p>' for w in metrics.get("warnings") or []]


def _skipped_notes(metrics: dict) -> list[str]:
    """Why some numbers are missing: skipped metrics (list of dicts or strings) and a skipped baseline."""
    skipped = metrics.get("skipped") or []
    baseline = metrics.get("baseline")
    if isinstance(skipped, (str, dict)):
        skipped = [skipped]
    reasons = [str(item.get("reason", item)) if isinstance(item, dict) else str(item) for item in skipped]
    if isinstance(baseline, dict) and isinstance(baseline.get("skipped"), str):
        reasons.append(f"baseline: {baseline['skipped']}")
    return [f'<p class="note">Skipped: {html.escape(reason)}</p>' for reason in reasons]


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


def _plot_sections(metrics: dict, plots: dict) -> list[str]:
    available = {key: path for key, path in plots.items() if path and Path(path).is_file()}
    known = [key for key, _ in PLOT_SECTIONS]
    sections = [(key, heading) for key, heading in PLOT_SECTIONS if key in available]
    sections += [(key, key.replace("_", " ").capitalize()) for key in available if key not in known]
    parts = []
    for key, heading in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        parts.append(_image(available[key], heading))
        report = _lookup(metrics, ("verification", "classification_report"))
        if key == "confusion_matrix" and report:
            parts.append(f"<pre>{html.escape(report)}</pre>")
    return parts


def _extra_tables(extra_tables) -> list[str]:
    parts = []
    for table in extra_tables or ():
        columns = list(table["columns"])
        rows = [[row.get(c) for c in columns] if isinstance(row, dict) else list(row) for row in table["rows"]]
        parts.append(f"<h2>{html.escape(str(table.get('title', 'Table')))}</h2>")
        parts.append(_table(columns, rows))
    return parts


def write_report(out_path, metrics: dict, plots: dict, title: str, extra_tables=None) -> Path:
    """Write the evaluation report for ``metrics`` (as from ``evaluate_embeddings`` plus the
    caller's ``protocol``, ``baseline``, ``model`` and ``timing``) and the PNGs in ``plots``.

    ``metrics["protocol"]`` may be a string or a dict; in a dict, ``open_set`` (bool) or
    ``setting`` ("open-set"/"closed-set") labels the protocol and every other item (e.g.
    ``train_identities``, ``test_identities``) is listed after it. ``metrics["baseline"]``,
    when present, has the same shape as ``metrics`` and gets its own column, headed by its
    ``name``, plus a column of the change trained - baseline (green where training helped, red
    where it hurt); the trained column is headed by ``metrics["model"]["name"]`` (or the string). Plots whose path
    is missing or does not exist are left out. ``extra_tables`` is a list of
    ``{"title", "columns", "rows"}`` dicts (rows as dicts or sequences), shown before the details.
    """
    parts = [*_verdict_banner(metrics), "<h2>Summary</h2>", _protocol(metrics), *_warning_notes(metrics), _summary(metrics)]
    parts += [_threshold_note(metrics), _interval_note(metrics)]
    parts += _skipped_notes(metrics)
    parts += _plot_sections(metrics, plots or {})
    for section in ("model", "timing"):  # reference details: after the results, not between them
        if isinstance(metrics.get(section), dict):
            parts.append(f"<h2>{section.capitalize()}</h2>")
            parts.append(_table(["item", "value"], _flatten(metrics[section])))
    parts += _extra_tables(extra_tables)
    parts += ["<h2>All metrics</h2>", _details(metrics)]
    return _write_atomically(out_path, _page(title, parts))
