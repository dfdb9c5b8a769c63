"""Verification: "are these two images the same identity?" answered by a distance threshold.

The threshold is a decision the deployed model has to live with, so it is chosen on validation
pairs (:func:`choose_threshold`) and then applied unchanged to test pairs
(:func:`verification_metrics`); nothing here looks at test labels to pick it. Threshold-free
numbers (ROC AUC, EER, TPR at a fixed FPR) come from sklearn's ROC with score = -distance,
read on the full curve (every distinct distance is a point): a thinned curve drops exactly the
points where ties and short runs put the EER or an FPR target.
"""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

from siamkit.distances import l2_normalize, unit_distance
from siamkit.errors import SiamkitError
from siamkit.evaluation.intervals import equal_error_rate

THRESHOLD_RULES = ("max_accuracy", "eer", "max_f1")
FPR_TARGETS = (0.01, 0.001)


_PAIRS_PER_CHUNK = 65_536


def pair_distances(embeddings, idx_a, idx_b) -> np.ndarray:
    """Euclidean distance between the L2-normalised embeddings of each pair (a[i], b[i]).

    Computed in chunks of pairs: all pairs of Fashion-MNIST's 10,000 test images are 10 million,
    and gathering both sides of every pair at once would need 48 GB for 1280-d features.
    """
    normalized = l2_normalize(np.asarray(embeddings, dtype=np.float32))
    idx_a, idx_b = np.asarray(idx_a, dtype=np.int64), np.asarray(idx_b, dtype=np.int64)
    distances = np.empty(len(idx_a), dtype=np.float64)
    for start in range(0, len(idx_a), _PAIRS_PER_CHUNK):
        part = slice(start, start + _PAIRS_PER_CHUNK)
        distances[part] = unit_distance(normalized[idx_a[part]], normalized[idx_b[part]])
    return distances


def _check_pairs(distances, same) -> tuple[np.ndarray, np.ndarray]:
    distances = np.asarray(distances, dtype=np.float64).reshape(-1)
    same = np.asarray(same, dtype=bool).reshape(-1)
    if len(distances) != len(same):
        raise SiamkitError(f"got {len(distances)} distances for {len(same)} same/different flags")
    if same.all() or not same.any():
        raise SiamkitError("verification needs both same-identity and different-identity pairs")
    return distances, same


def _roc(distances, same, drop_intermediate):
    """sklearn's ROC on score = -distance; thresholds are returned back in distance units."""
    fpr, tpr, score_thresholds = skm.roc_curve(same, -distances, drop_intermediate=drop_intermediate)
    return fpr, tpr, -score_thresholds


def choose_threshold(distances, same, rule: str = "max_accuracy") -> float:
    """Pick the distance threshold (predict "same" when distance <= threshold) on these pairs.

    ``rule``: ``max_accuracy``, ``eer`` (where false accept and false reject rates meet) or
    ``max_f1``. The returned value sits halfway between the last distance accepted and the
    next one, which gives the same decisions on these pairs but does not sit on a training
    example's edge when applied to new pairs.
    """
    if rule not in THRESHOLD_RULES:
        raise SiamkitError(f"unknown threshold rule {rule!r}; choose one of {', '.join(THRESHOLD_RULES)}")
    distances, same = _check_pairs(distances, same)
    # Every distinct cut: index 0 accepts nothing, index i accepts distances <= cut[i].
    fpr, tpr, cut = _roc(distances, same, drop_intermediate=False)
    positives, negatives = int(same.sum()), int((~same).sum())
    tp, fp = tpr * positives, fpr * negatives
    if rule == "max_accuracy":
        score = (tp + (negatives - fp)) / (positives + negatives)
    elif rule == "max_f1":
        score = 2 * tp / np.maximum(2 * tp + fp + (positives - tp), 1)
    else:
        score = -np.abs(fpr - (1.0 - tpr))
    best = int(np.argmax(score))
    if best == 0:
        return float(np.nextafter(cut[1], -np.inf))
    if best == len(cut) - 1:
        return float(cut[best])
    return float((cut[best] + cut[best + 1]) / 2.0)


def _tpr_at_fpr(fpr, tpr, target) -> float:
    """Best true accept rate over the curve's points with false accept rate <= ``target``."""
    allowed = fpr <= target
    return float(tpr[allowed].max()) if allowed.any() else 0.0


def not_measurable(target: float, negatives: int) -> str | None:
    """Why TPR at FPR ``target`` cannot be read from ``negatives`` different-identity pairs, or
    None when it can: below one false accept the value is really TPR at FPR 0, whatever the target."""
    if target * negatives >= 1:
        return None
    return f"not measurable with {negatives} negative pairs (FPR {_percent(target)} needs at least {round(1 / target)})"


def _percent(rate: float) -> str:
    return f"{rate:.1%}".replace(".0%", "%")


def describe_tpr_at_fpr(verification: dict) -> str:
    """``verification``'s TPR at each FPR target as text, e.g. "TPR at FPR 1%: 0.9120, TPR at
    FPR 0.1%: not measurable with 90 negative pairs (...)", for the terminal summary."""
    reasons = verification.get("tpr_at_fpr_not_measurable") or {}
    parts = []
    for target, value in (verification.get("tpr_at_fpr") or {}).items():
        shown = f"{value:.4f}" if isinstance(value, float) else reasons.get(target, "not measured")
        parts.append(f"TPR at FPR {_percent(float(target))}: {shown}")
    return ", ".join(parts)


def _thinned(fpr, tpr):
    """The curve without points on a straight line between their neighbours (sklearn's
    ``drop_intermediate``): the same picture, far fewer points to store and plot."""
    keep = np.ones(len(fpr), dtype=bool)
    if len(fpr) > 2:
        keep[1:-1] = (np.diff(fpr, 2) != 0) | (np.diff(tpr, 2) != 0)
    return fpr[keep], tpr[keep]


def verification_metrics(distances, same, threshold: float) -> dict:
    """Score test pairs at a threshold chosen elsewhere (on validation pairs).

    Returns plain JSON-ready values: ``roc_auc``, ``eer`` (FPR = FNR, interpolated between curve
    points), ``tpr_at_fpr`` (keys "0.01", "0.001"; None where the pairs hold fewer than one false
    accept at that rate, with the reason under the same key in ``tpr_at_fpr_not_measurable``),
    ``threshold``, ``accuracy``, ``precision``, ``recall``, ``f1``,
    ``confusion_matrix`` as [[tn, fp], [fn, tp]] with "same" as the positive class,
    ``classification_report`` (sklearn's text), ``pairs``, ``positive_pairs``,
    ``negative_pairs``, and ``roc`` = {"fpr": [...], "tpr": [...]} for plotting; pop ``roc``
    before saving if the curve is not wanted in a metrics file.
    """
    distances, same = _check_pairs(distances, same)
    threshold = float(threshold)
    if not np.isfinite(threshold):
        raise SiamkitError(f"the verification threshold must be a finite number, got {threshold}")
    fpr, tpr, _ = _roc(distances, same, drop_intermediate=False)
    negatives = int((~same).sum())
    reasons = {str(target): not_measurable(target, negatives) for target in FPR_TARGETS}
    unmeasurable = {target: reason for target, reason in reasons.items() if reason}
    plotted_fpr, plotted_tpr = _thinned(fpr, tpr)
    predicted = distances <= threshold
    (tn, fp), (fn, tp) = skm.confusion_matrix(same, predicted, labels=[False, True]).tolist()
    report = skm.classification_report(
        same, predicted, labels=[False, True], target_names=["different", "same"], digits=4, zero_division=0
    )
    return {
        "roc_auc": float(skm.roc_auc_score(same, -distances)),
        "eer": equal_error_rate(fpr, tpr),
        "tpr_at_fpr": {
            str(target): None if str(target) in unmeasurable else _tpr_at_fpr(fpr, tpr, target) for target in FPR_TARGETS
        },
        "tpr_at_fpr_not_measurable": unmeasurable,
        "threshold": threshold,
        "accuracy": float(skm.accuracy_score(same, predicted)),
        "precision": float(skm.precision_score(same, predicted, zero_division=0)),
        "recall": float(skm.recall_score(same, predicted, zero_division=0)),
        "f1": float(skm.f1_score(same, predicted, zero_division=0)),
        "confusion_matrix": [[int(tn), int(fp)], [int(fn), int(tp)]],
        "classification_report": report,
        "pairs": int(len(same)),
        "positive_pairs": int(same.sum()),
        "negative_pairs": negatives,
        "roc": {"fpr": plotted_fpr.tolist(), "tpr": plotted_tpr.tolist()},
    }


def hardest_false_matches(distances, same, idx_a, idx_b, count: int = 8) -> list[dict]:
    """The ``count`` different-identity pairs the model finds most alike (smallest distance).

    These are the pairs a reviewer should look at first: near-duplicates across identities,
    label noise, or a shortcut the model learned.
    """
    distances = np.asarray(distances, dtype=np.float64)
    different = np.flatnonzero(~np.asarray(same, dtype=bool))
    closest = different[np.argsort(distances[different], kind="stable")[:count]]
    return [
        {"a": int(idx_a[i]), "b": int(idx_b[i]), "distance": float(distances[i])} for i in closest
    ]
