"""Did training help? The trained model's test ROC AUC beside the untrained backbone's.

Every run answers this question, so the log's last line and the report's banner say it in the
same words. A gain counts when it shows at the three decimals printed: "+0.000" would read as a
win that is not there.
"""

from __future__ import annotations


def _roc_auc(part) -> float | None:
    value = part.get("verification", {}).get("roc_auc") if isinstance(part, dict) else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def roc_aucs(metrics: dict) -> tuple[float | None, float | None]:
    """Test ROC AUC of the trained model and of the untrained backbone (None where not measured)."""
    return _roc_auc(metrics), _roc_auc(metrics.get("baseline"))


def training_helped(metrics: dict) -> bool | None:
    """Whether the trained model beats the untrained backbone; None when either was not measured."""
    trained, untrained = roc_aucs(metrics)
    if trained is None or untrained is None:
        return None
    return round(trained - untrained, 3) > 0


def training_verdict(metrics: dict) -> str | None:
    """``test ROC AUC 0.990, untrained 0.940: +0.050`` or ``...: training did not help``."""
    trained, untrained = roc_aucs(metrics)
    if trained is None:
        return None
    if untrained is None:
        return f"test ROC AUC {trained:.3f} (untrained backbone not measured)"
    outcome = f"+{trained - untrained:.3f}" if training_helped(metrics) else "training did not help"
    return f"test ROC AUC {trained:.3f}, untrained {untrained:.3f}: {outcome}"
