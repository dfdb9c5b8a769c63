"""95% confidence intervals: how much a number could move with another draw of the same size.

Two sources of chance, two methods. One-shot accuracy is a proportion of seeded episodes, so it
gets the Wilson score interval (:func:`wilson_interval`), which stays inside [0, 1] and is not
zero-width at 0% or 100% the way the normal approximation is; it covers the sampling of
episodes only, not the choice of test identities. ROC AUC and EER depend mostly on *which*
identities are in the test set (pairs of one identity are not independent), so they are
bootstrapped over identities (:func:`identity_bootstrap`).
"""

from __future__ import annotations

import math

import numpy as np

from siamkit.errors import SiamkitError

Z_95 = 1.959963984540054  # two-sided 95% quantile of the standard normal
BOOTSTRAP_RESAMPLES = 200
# Distances are put into at most this many ordered bins for the bootstrap, so each resample costs
# O(identity pairs x bins) instead of O(pairs): 10 million pairs of a 10,000-image test set
# resample in well under a second each. With fewer distinct distances the bins are exact.
_BOOTSTRAP_BINS = 4096


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval (lower, upper) for ``successes`` out of ``trials``."""
    if trials < 1:
        raise SiamkitError(f"a confidence interval needs at least 1 trial, got {trials}")
    p = successes / trials
    denominator = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z / denominator * math.sqrt(p * (1.0 - p) / trials + z * z / (4 * trials * trials))
    return max(0.0, centre - half), min(1.0, centre + half)


def equal_error_rate(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """Where the false accept rate equals the false reject rate (1 - TPR), on a ROC curve that
    starts by accepting nothing; between two curve points the crossing is linearly interpolated."""
    gap = fpr - (1.0 - tpr)  # rises from -1 (accept nothing) to +1 (accept everything)
    after = int(np.argmax(gap >= 0))
    if after == 0 or gap[after] == 0:
        return float(fpr[after])
    before = after - 1
    share = -gap[before] / (gap[after] - gap[before])
    return float(fpr[before] + share * (fpr[after] - fpr[before]))


def _distance_bins(distances: np.ndarray) -> tuple[np.ndarray, int]:
    """Ordered bin of every distance; tied distances share a bin, and with at most
    ``_BOOTSTRAP_BINS`` pairs every distinct distance has its own."""
    order = np.argsort(distances, kind="stable")
    ordered = distances[order]
    first_of_value = np.searchsorted(ordered, ordered, side="left")
    bins = np.empty(len(distances), dtype=np.int64)
    count = min(len(distances), _BOOTSTRAP_BINS)
    bins[order] = first_of_value * count // len(distances)
    return bins, count


def _binned_auc_and_eer(positive: np.ndarray, negative: np.ndarray) -> tuple[float, float]:
    """ROC AUC (ties count half) and EER from weighted same/different counts per distance bin."""
    total_positive, total_negative = positive.sum(), negative.sum()
    farther_negatives = total_negative - np.cumsum(negative)
    auc = float((positive * (farther_negatives + 0.5 * negative)).sum() / (total_positive * total_negative))
    tpr = np.concatenate([[0.0], np.cumsum(positive) / total_positive])
    fpr = np.concatenate([[0.0], np.cumsum(negative) / total_negative])
    return auc, equal_error_rate(fpr, tpr)


def identity_bootstrap(
    distances, same, identity_a, identity_b, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0
) -> dict:
    """95% percentile intervals for ROC AUC and EER, resampling identities with replacement.

    Each resample draws as many identities as the pairs involve, with replacement; an identity
    drawn m times counts its same-identity pairs m times, and a different-identity pair of
    identities drawn m and k times counts m * k times (the pairs whose both images belong to
    drawn identities, with multiplicity). Resamples left without same or different pairs are
    skipped. Distances are binned (see ``_BOOTSTRAP_BINS``) so this stays fast for millions of
    pairs. Returns ``{"roc_auc": [low, high], "eer": [low, high], "resamples", "identities"}``
    (intervals None when fewer than half the resamples were usable).
    """
    distances = np.asarray(distances, dtype=np.float64).reshape(-1)
    same = np.asarray(same, dtype=bool).reshape(-1)
    names, codes = np.unique(np.concatenate([np.asarray(identity_a), np.asarray(identity_b)]), return_inverse=True)
    code_a, code_b = np.split(codes.reshape(-1), 2)
    identities = len(names)
    bins, bin_count = _distance_bins(distances)
    # Collapse pairs to (identity a, identity b, bin) cells with a count: the unit of resampling.
    low, high = np.minimum(code_a, code_b), np.maximum(code_a, code_b)
    cell_key = (low * identities + high) * bin_count + bins
    cells, cell_size = np.unique(cell_key, return_counts=True)
    cell_bin = cells % bin_count
    cell_low, cell_high = np.divmod(cells // bin_count, identities)
    cell_same = cell_low == cell_high

    rng = np.random.default_rng(seed)
    aucs, eers = [], []
    for _ in range(int(resamples)):
        drawn = np.bincount(rng.integers(0, identities, size=identities), minlength=identities).astype(np.float64)
        weight = cell_size * np.where(cell_same, drawn[cell_low], drawn[cell_low] * drawn[cell_high])
        positive = np.bincount(cell_bin, weights=np.where(cell_same, weight, 0.0), minlength=bin_count)
        negative = np.bincount(cell_bin, weights=np.where(cell_same, 0.0, weight), minlength=bin_count)
        if positive.sum() == 0 or negative.sum() == 0:
            continue
        auc, eer = _binned_auc_and_eer(positive, negative)
        aucs.append(auc)
        eers.append(eer)

    def percentile_interval(values):
        if len(values) < resamples / 2:
            return None
        low, high = np.percentile(values, [2.5, 97.5])
        return [float(low), float(high)]

    return {
        "roc_auc": percentile_interval(aucs),
        "eer": percentile_interval(eers),
        "resamples": int(resamples),
        "identities": int(identities),
    }
