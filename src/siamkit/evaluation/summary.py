"""One call that turns test embeddings into the full, JSON-ready set of evaluation numbers.

The threshold comes in from outside: the caller picks it on validation embeddings with
:func:`threshold_from_validation` and passes it to :func:`evaluate_embeddings`, which never
derives it from test labels. Pairs are rebuilt from ``(labels, max_pairs, seed)``, so
:func:`verification_pairs` gives a caller exactly the pairs the numbers were computed on
(for the distance histogram or the hardest false matches).
"""

from __future__ import annotations

import logging

import numpy as np

from siamkit.errors import SiamkitError
from siamkit.evaluation.distances import check_embeddings
from siamkit.evaluation.intervals import BOOTSTRAP_RESAMPLES, identity_bootstrap
from siamkit.evaluation.one_shot import one_shot_accuracy
from siamkit.evaluation.pairs import make_verification_pairs
from siamkit.evaluation.retrieval import retrieval_metrics
from siamkit.evaluation.triplets import triplet_accuracy
from siamkit.evaluation.verification import choose_threshold, pair_distances, verification_metrics

log = logging.getLogger("siamkit.evaluation")

# Below this many test identities every number rests on a handful of look-alike groups.
FEW_IDENTITIES = 10


def verification_pairs(embeddings, labels, max_pairs: int | None = None, seed: int = 0):
    """Seeded verification pairs and their distances: ``(idx_a, idx_b, same, distances)``."""
    array, label_array = check_embeddings(embeddings, labels)
    idx_a, idx_b, same = make_verification_pairs(label_array, max_pairs=max_pairs, seed=seed)
    return idx_a, idx_b, same, pair_distances(array, idx_a, idx_b)


def threshold_from_validation(
    val_embeddings, val_labels, rule: str = "max_accuracy", max_pairs: int | None = None, seed: int = 0
) -> float:
    """Choose the verification threshold on validation pairs only, by ``rule``."""
    _, _, same, distances = verification_pairs(val_embeddings, val_labels, max_pairs=max_pairs, seed=seed)
    return choose_threshold(distances, same, rule=rule)


def evaluate_embeddings(
    test_embeddings,
    test_labels,
    threshold: float,
    threshold_rule: str,
    test_groups=None,
    ways=(5, 20),
    episodes: int = 400,
    within_group: bool = False,
    max_pairs: int | None = None,
    seed: int = 0,
    shots=(1,),
) -> dict:
    """Verification, retrieval, one-shot and triplet metrics on test embeddings.

    ``ways`` and ``shots`` are iterables of whole numbers (the config parses "1,5": ``parse_shots``); ``shots``
    beyond 1 add N-way K-shot results: ``"k_shot": {"5": {"20": {...}}}`` (5 support
    images per identity, 20 ways), and ``"k_shot_across_groups"`` beside them with ``within_group``.

    Returns ``{"verification": {...}, "retrieval": {...}, "one_shot": {"5": {...}, ...},
    "triplet_accuracy": float, "skipped": [{"metric", "ways", "reason"}, ...]}``; with
    ``within_group`` the one-shot episodes stay inside one group (alphabet) and
    ``"one_shot_across_groups"`` holds the easier episodes drawn from all groups, for comparison. One-shot
    settings the data cannot support (too few identities) are recorded in ``skipped`` instead
    of failing the whole evaluation. ``verification["roc"]`` holds the ROC curve lists for
    plotting. ``verification["roc_auc_ci95"]`` and ``["eer_ci95"]`` are [low, high] 95%
    intervals from a seeded bootstrap over test identities (``ci95_method`` says so).
    ``warnings`` lists what makes the numbers shaky (fewer than ``FEW_IDENTITIES`` identities),
    each also logged. Every value is a plain float, int, str, list, dict or None.
    """
    array, label_array = check_embeddings(test_embeddings, test_labels)
    idx_a, idx_b, same, distances = verification_pairs(array, label_array, max_pairs=max_pairs, seed=seed)
    verification = verification_metrics(distances, same, threshold)
    verification["threshold_rule"] = str(threshold_rule)
    intervals = identity_bootstrap(distances, same, label_array[idx_a], label_array[idx_b], seed=seed)
    verification["roc_auc_ci95"] = intervals["roc_auc"]
    verification["eer_ci95"] = intervals["eer"]
    verification["ci95_method"] = f"bootstrap over test identities ({BOOTSTRAP_RESAMPLES} resamples, seeded)"
    identities = int(len(np.unique(label_array)))
    warnings = []
    if identities < FEW_IDENTITIES:
        warnings.append(
            f"only {identities} test identities: every number here depends on which few identities were "
            f"drawn; use at least {FEW_IDENTITIES} for numbers to compare"
        )
    for warning in warnings:
        log.warning("%s", warning)

    skipped: list[dict] = []
    one_shot = _one_shot_all(array, label_array, ways, episodes, seed, test_groups, within_group, skipped)
    across = {}
    if within_group:
        across = _one_shot_all(array, label_array, ways, episodes, seed, None, False, skipped)
    k_shot, k_across = {}, {}
    for k in sorted({int(k) for k in shots} - {1}):
        k_shot[str(k)] = _one_shot_all(array, label_array, ways, episodes, seed, test_groups, within_group, skipped, k)
        if within_group:
            k_across[str(k)] = _one_shot_all(array, label_array, ways, episodes, seed, None, False, skipped, k)

    return {
        "verification": verification,
        "retrieval": retrieval_metrics(array, label_array, seed=seed),
        "one_shot": one_shot,
        **({"one_shot_across_groups": across} if within_group else {}),
        **({"k_shot": k_shot} if k_shot else {}),
        **({"k_shot_across_groups": k_across} if k_across else {}),
        "triplet_accuracy": triplet_accuracy(array, label_array, seed=seed),
        "skipped": skipped,
        "test_images": int(len(array)),
        "test_identities": identities,
        "warnings": warnings,
    }


def _one_shot_all(array, labels, ways, episodes: int, seed: int, groups, within_group: bool, skipped: list, shots: int = 1) -> dict:
    results: dict[str, dict] = {}
    for n_ways in ways:
        try:
            results[str(int(n_ways))] = one_shot_accuracy(
                array, labels, int(n_ways), episodes=episodes, seed=seed, groups=groups, within_group=within_group, shots=shots,
            )
        except SiamkitError as exc:
            where = " (within group)" if within_group else ""
            metric = "one_shot" if shots == 1 else f"{shots}_shot"
            skipped.append({"metric": f"{metric}{where}", "ways": int(n_ways), "reason": str(exc)})
        else:
            results[str(int(n_ways))]["within_group"] = bool(within_group)
    return results
