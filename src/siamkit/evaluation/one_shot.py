"""N-way one-shot classification, the task Koch et al. (2015) used to evaluate Siamese networks.

Each episode shows the model one example ("support") of each of N identities it has never
been trained on, then a new image ("query") of one of them; the episode is correct when the
nearest support belongs to the query's identity. Chance level is 1/N. With ``within_group``
all N identities come from one group (e.g. one Omniglot alphabet), which is the harder and
more telling version because look-alike identities compete.
"""

from __future__ import annotations

import numpy as np

from siamkit.distances import l2_normalize, unit_distance
from siamkit.errors import SiamkitError
from siamkit.evaluation.distances import check_embeddings
from siamkit.evaluation.intervals import wilson_interval


def _identity_pools(codes: np.ndarray, group_codes: np.ndarray | None, shots: int = 1) -> list[np.ndarray]:
    """Identity numbers that can take part in an episode, as one pool or one pool per group.

    An identity is usable when it has at least ``shots + 1`` images (its supports and a
    different query).
    """
    counts = np.bincount(codes)
    usable = np.flatnonzero(counts >= shots + 1)
    if group_codes is None:
        return [usable]
    identity_group = np.full(len(counts), -1)
    for identity in usable:
        groups_seen = np.unique(group_codes[codes == identity])
        if len(groups_seen) > 1:
            raise SiamkitError(
                f"identity number {identity} has images in {len(groups_seen)} groups; "
                "each identity must belong to exactly one group for within-group one-shot"
            )
        identity_group[identity] = groups_seen[0]
    return [usable[identity_group[usable] == g] for g in np.unique(identity_group[usable])]


def one_shot_accuracy(
    embeddings,
    labels,
    ways: int,
    episodes: int = 400,
    seed: int = 0,
    groups=None,
    within_group: bool = False,
    shots: int = 1,
) -> dict:
    """Accuracy of ``ways``-way ``shots``-shot episodes, seeded so every call gives the same number.

    Each episode draws ``ways`` identities with >= ``shots + 1`` images (from one group, chosen
    uniformly among groups with enough such identities, when ``within_group``), ``shots`` support
    images each, and one query image (never a support) of one of them. With several shots the
    query goes to the nearest prototype: the normalised mean of an identity's supports (Snell et
    al. 2017); with one shot that is the support itself. Ties in distance are broken at
    random (seeded), as in every siamkit ranking metric, so a collapsed model scores chance, not 0 or 1.

    Returns ``{"accuracy", "ci95_low", "ci95_high", "ci95", "episodes", "ways", "chance"}``:
    ``ci95_low``/``ci95_high`` bound the 95% Wilson score interval, which covers the sampling
    of episodes only (not which test identities there are); ``ci95`` is half its width, kept
    for readers of older metrics files.
    """
    array, label_array = check_embeddings(embeddings, labels)
    ways, episodes, shots = int(ways), int(episodes), int(shots)
    if shots < 1:
        raise SiamkitError(f"N-way K-shot needs at least 1 shot, got {shots}")
    if ways < 2:
        raise SiamkitError(f"one-shot needs at least 2 ways, got {ways}")
    if episodes < 1:
        raise SiamkitError(f"one-shot needs at least 1 episode, got {episodes}")
    if within_group and groups is None:
        raise SiamkitError("within-group one-shot needs a group (e.g. alphabet) for every image")
    _, codes = np.unique(label_array, return_inverse=True)
    codes = codes.reshape(-1)
    group_codes = None
    if within_group:
        group_array = np.asarray(groups)
        if group_array.shape != label_array.shape:
            raise SiamkitError(f"got {len(group_array)} groups for {len(label_array)} images; need one per image")
        group_codes = np.unique(group_array, return_inverse=True)[1].reshape(-1)
    pools = [pool for pool in _identity_pools(codes, group_codes, shots) if len(pool) >= ways]
    if not pools:
        where = "in any single group" if within_group else "in the data"
        task = "one-shot" if shots == 1 else f"{shots}-shot"
        raise SiamkitError(f"{ways}-way {task} needs {ways} identities with {shots + 1}+ images {where}; too few found")

    normalized = l2_normalize(array)
    images_of = {identity: np.flatnonzero(codes == identity) for pool in pools for identity in pool}
    rng = np.random.default_rng(seed)
    correct = 0
    for _ in range(episodes):
        pool = pools[rng.integers(len(pools))]
        chosen = rng.choice(pool, size=ways, replace=False)
        target = int(rng.integers(ways))
        if shots == 1:  # the draws of the one-shot protocol as it always was (same numbers)
            supports = np.array([rng.choice(images_of[identity]) for identity in chosen])
            query, supports[target] = rng.choice(images_of[chosen[target]], size=2, replace=False)
            prototypes = normalized[supports]
        else:
            drawn = [rng.choice(images_of[identity], size=shots + (i == target), replace=False) for i, identity in enumerate(chosen)]
            query = drawn[target][-1]
            prototypes = l2_normalize(np.stack([normalized[rows[:shots]].mean(axis=0) for rows in drawn]))
        distances = unit_distance(prototypes, normalized[query])
        nearest = np.flatnonzero(distances == distances.min())
        correct += int(rng.choice(nearest) == target)
    accuracy = correct / episodes
    low, high = wilson_interval(correct, episodes)
    return {
        "accuracy": accuracy,
        "ci95_low": low,
        "ci95_high": high,
        "ci95": (high - low) / 2.0,
        "episodes": episodes,
        "ways": ways,
        "shots": shots,
        "chance": 1.0 / ways,
    }
