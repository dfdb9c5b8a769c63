"""The evaluation report: one self-contained HTML file a person can read top to bottom.

Plots are embedded as base64 data URIs and the CSS is inline, so the file can be mailed,
attached to a ticket or opened offline years later and still show everything; it references
no external resource. Every piece of text from the metrics goes through :func:`html.escape`
(identity names and file paths come from users' folders). Files are written to a temporary
name in the same folder and moved into place with :func:`os.replace`, so a reader never sees
half a report. The summary and details tables are built in
:mod:`~siamkit.evaluation.report_tables`; the words around them (the verdict, the protocol, where
the threshold came from, what the intervals cover, what was skipped) are written here.

``plots`` keys understood by :func:`write_report`, in reading order: ``training_curves``,
``roc``, ``distance_histograms``, ``confusion_matrix``, ``retrieval_grid``,
``hardest_false_matches``, ``embedding_projection``; any other key is shown after them.
"""

from __future__ import annotations

import html
from pathlib import Path

from siamkit.evaluation.html_page import (  # noqa: F401  (write_table_html is imported from here too)
    _format, _image, _page, _table, _write_atomically, write_table_html,
)
from siamkit.evaluation.report_tables import SUMMARY_ROWS  # noqa: F401  (moved; old import path)
from siamkit.evaluation.report_tables import _details, _extra_tables, _flatten, _lookup, _summary
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


def write_report(out_path, metrics: dict, plots: dict, title: str, extra_tables=None, plots_off: bool = False) -> Path:
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
    if plots_off:
        parts.append('<p class="note">No figures: plots were turned off (siamkit evaluate --no-plots, or plots: false in the training config).</p>')
    parts += _plot_sections(metrics, plots or {})
    for section in ("model", "timing"):  # reference details: after the results, not between them
        if isinstance(metrics.get(section), dict):
            parts.append(f"<h2>{section.capitalize()}</h2>")
            parts.append(_table(["item", "value"], _flatten(metrics[section])))
    parts += _extra_tables(extra_tables)
    parts += ["<h2>All metrics</h2>", _details(metrics)]
    return _write_atomically(out_path, _page(title, parts))
