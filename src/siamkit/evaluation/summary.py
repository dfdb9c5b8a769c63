"""One call that turns test embeddings into the full, JSON-ready set of evaluation numbers.

The threshold comes in from outside: the caller picks it on validation embeddings with
:func:`threshold_from_validation` and passes it to :func:`evaluate_embeddings`, which never
derives it from test labels. Pairs are rebuilt from ``(labels, max_pairs, seed)``, so
:func:`verification_pairs` gives a caller exactly the pairs the numbers were computed on
(for the distance histogram or the hardest false matches).
"""

from __future__ import annotations

import numpy as np

from siamkit.errors import SiamkitError
from siamkit.evaluation.distances import check_embeddings
from siamkit.evaluation.one_shot import one_shot_accuracy
from siamkit.evaluation.pairs import make_verification_pairs
from siamkit.evaluation.retrieval import retrieval_metrics
from siamkit.evaluation.triplets import triplet_accuracy
from siamkit.evaluation.verification import choose_threshold, pair_distances, verification_metrics


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
) -> dict:
    """Verification, retrieval, one-shot and triplet metrics on test embeddings.

    Returns ``{"verification": {...}, "retrieval": {...}, "one_shot": {"5": {...}, ...},
    "triplet_accuracy": float, "skipped": [{"metric", "ways", "reason"}, ...]}``; with
    ``within_group`` the one-shot episodes stay inside one group (alphabet) and
    ``"one_shot_across_groups"`` holds the easier episodes drawn from all groups, for comparison. One-shot
    settings the data cannot support (too few identities) are recorded in ``skipped`` instead
    of failing the whole evaluation. ``verification["roc"]`` holds the ROC curve lists for
    plotting. Every value is a plain float, int, str, list or dict.
    """
    array, label_array = check_embeddings(test_embeddings, test_labels)
    _, _, same, distances = verification_pairs(array, label_array, max_pairs=max_pairs, seed=seed)
    verification = verification_metrics(distances, same, threshold)
    verification["threshold_rule"] = str(threshold_rule)

    skipped: list[dict] = []
    one_shot = _one_shot_all(array, label_array, ways, episodes, seed, test_groups, within_group, skipped)
    across = {}
    if within_group:
        across = _one_shot_all(array, label_array, ways, episodes, seed, None, False, skipped)

    return {
        "verification": verification,
        "retrieval": retrieval_metrics(array, label_array),
        "one_shot": one_shot,
        **({"one_shot_across_groups": across} if within_group else {}),
        "triplet_accuracy": triplet_accuracy(array, label_array, seed=seed),
        "skipped": skipped,
        "test_images": int(len(array)),
        "test_identities": int(len(np.unique(label_array))),
    }


def _one_shot_all(array, labels, ways, episodes: int, seed: int, groups, within_group: bool, skipped: list) -> dict:
    results: dict[str, dict] = {}
    for n_ways in ways:
        try:
            results[str(int(n_ways))] = one_shot_accuracy(
                array, labels, int(n_ways), episodes=episodes, seed=seed, groups=groups, within_group=within_group,
            )
        except SiamkitError as exc:
            where = " (within group)" if within_group else ""
            skipped.append({"metric": f"one_shot{where}", "ways": int(n_ways), "reason": str(exc)})
        else:
            results[str(int(n_ways))]["within_group"] = bool(within_group)
    return results
