"""Splits drawn at random from a seed: by identity, by group, or within each identity.

Open-set splits put whole identities (``split_by_identity``) or whole groups of them, such as
Omniglot alphabets (``split_by_group``), into one part each; either can instead cut the units
into k folds for cross-validation (``--fold 2/5``). The closed-set split
(``split_within_identity``) shares each identity's images out over all three parts. Every rule
reads its fractions the same way and refuses a part that asks for images but holds fewer than
two identities able to make a positive pair.
"""

from __future__ import annotations

import logging

import numpy as np

from siamkit.data.dataset import ImageDataset, listing_sha256
from siamkit.data.split_file import SPLIT_NAMES, Split
from siamkit.errors import SiamkitError

log = logging.getLogger("siamkit")


def parse_fractions(text: str | tuple | list) -> tuple[float, float, float]:
    """Read ``0.7,0.15,0.15`` (or a sequence) and check it describes a split."""
    try:
        values = [float(v) for v in (text.split(",") if isinstance(text, str) else text)]
    except ValueError:
        raise SiamkitError(f"--split '{text}': expected three numbers like 0.7,0.15,0.15") from None
    if len(values) != 3 or any(v < 0 for v in values) or not 0.999 <= sum(values) <= 1.001:
        raise SiamkitError(f"--split '{text}': expected three non-negative fractions summing to 1")
    if values[0] == 0 or values[1] == 0:
        raise SiamkitError(f"--split '{text}': train and validation fractions must be above 0")
    return values[0], values[1], values[2]


def _allocate(count: int, fractions: tuple[float, float, float], minimum: int = 2) -> tuple[int, int, int]:
    """Split ``count`` items so validation and test get at least ``minimum`` when asked for any
    (2 identities make a negative pair; one group already holds several identities)."""
    n_val = max(minimum, round(count * fractions[1])) if fractions[1] > 0 else 0
    n_test = max(minimum, round(count * fractions[2])) if fractions[2] > 0 else 0
    n_train = count - n_val - n_test
    return n_train, n_val, n_test


def parse_fold(text: str | None) -> tuple[int, int] | None:
    """Read ``2/5`` (fold 2 of 5, counted from 1) for k-fold cross-validation by identity."""
    if text is None or text == "":
        return None
    try:
        number, count = (int(part) for part in str(text).split("/"))
    except ValueError:
        raise SiamkitError(f"--fold '{text}': expected FOLD/FOLDS like 2/5") from None
    if count < 2 or not 1 <= number <= count:
        raise SiamkitError(f"--fold '{text}': need 2+ folds and 1 <= FOLD <= FOLDS")
    return number, count


def _assign(
    units: list[str], fractions, rng: np.random.Generator, fold: tuple[int, int] | None, minimum: int = 2
) -> dict[str, list[str]]:
    """Shuffle ``units`` (identities or groups) into train / val / test.

    With ``fold`` (i, k) the units are cut into k folds once per seed and fold i is the test set,
    so the k runs of a cross-validation test every unit exactly once; validation then takes its
    share of the rest in proportion to the train and validation fractions. ``minimum`` 0 is for
    extras (single-image identities): shared out by the fractions, even when fewer than k folds.
    """
    order = [units[i] for i in rng.permutation(len(units))]
    if fold is None:
        n_train, n_val, n_test = _allocate(len(order), fractions, minimum)
        return {"train": order[:n_train], "val": order[n_train : n_train + n_val], "test": order[n_train + n_val :]}
    number, count = fold
    if len(order) < count and minimum > 0:
        raise SiamkitError(f"--fold {number}/{count}: only {len(order)} units to split into {count} folds")
    folds = np.array_split(np.arange(len(order)), count)
    tested = set(folds[number - 1].tolist())
    test = [order[i] for i in sorted(tested)]
    rest = [unit for i, unit in enumerate(order) if i not in tested]
    n_val = max(minimum, round(len(rest) * fractions[1] / (fractions[0] + fractions[1])))
    return {"train": rest[n_val:], "val": rest[:n_val], "test": test}


def split_by_identity(
    dataset: ImageDataset, fractions=(0.7, 0.15, 0.15), seed: int = 0, fold: tuple[int, int] | None = None
) -> Split:
    """Open-set split: each identity lands in exactly one of train, val and test.

    Identities with a single image cannot form a positive pair, so they are shared out by the
    same fractions (and folds) but only ever serve as negatives/distractors; the counts in
    ``identity_counts`` cover identities with at least two images, the ones that make positive pairs.
    """
    fractions = parse_fractions(fractions)
    identities = dataset.identities()
    usable = sorted(label for label, idx in identities.items() if len(idx) >= 2)
    singles = sorted(label for label, idx in identities.items() if len(idx) < 2)
    if singles:
        log.warning(
            "%d identit%s with a single image (e.g. %s): used only as negatives",
            len(singles), "y" if len(singles) == 1 else "ies", singles[0],
        )
    rng = np.random.default_rng(seed)
    parts = _assign(usable, fractions, rng, fold)
    # Distractors go by the same fractions and folds: none into a part asked to be empty, and
    # each fold of a cross-validation tests its own share of them.
    extras = _assign(singles, fractions, rng, fold, minimum=0)
    parts = {name: parts[name] + extras[name] for name in SPLIT_NAMES}
    return _split_of_identities(dataset, identities, parts, fractions, seed, "open-set", len(usable))


def split_by_group(
    dataset: ImageDataset, fractions=(0.7, 0.15, 0.15), seed: int = 0, fold: tuple[int, int] | None = None
) -> Split:
    """Open-set split by whole groups (Omniglot alphabets): no test character shares an alphabet
    with a training one, the protocol of Lake et al. and Koch et al."""
    fractions = parse_fractions(fractions)
    identities = dataset.identities()
    group_of = {}
    for label, indices in identities.items():
        groups = {dataset.records[i].group for i in indices}
        if len(groups) != 1 or "" in groups:
            raise SiamkitError(
                f"identity '{label}': splitting by group needs each identity in one group folder "
                "(root/group/identity/image); found none or several"
            )
        group_of[label] = groups.pop()
    groups = sorted(set(group_of.values()))
    if len(groups) < 3:
        raise SiamkitError(f"split by group: found {len(groups)} group(s); need at least 3 (train, val, test)")
    by_group = _assign(groups, fractions, np.random.default_rng(seed), fold, minimum=1)
    split_of_group = {group: name for name in SPLIT_NAMES for group in by_group[name]}
    parts = {name: [label for label in identities if split_of_group[group_of[label]] == name] for name in SPLIT_NAMES}
    usable = sum(1 for indices in identities.values() if len(indices) >= 2)
    split = _split_of_identities(dataset, identities, parts, fractions, seed, "open-set by group", usable)
    split.group_counts = {name: len(by_group[name]) for name in SPLIT_NAMES}
    split.groups = {name: sorted(by_group[name]) for name in SPLIT_NAMES}
    return split


def _split_of_identities(
    dataset: ImageDataset, identities: dict[str, list[int]], parts: dict, fractions, seed: int, protocol: str, usable: int
) -> Split:
    counts = {name: sum(1 for label in parts[name] if len(identities[label]) >= 2) for name in SPLIT_NAMES}
    _require_usable(counts, fractions, usable)
    paths = {
        name: [dataset.records[i].path for label in parts[name] for i in identities[label]]
        for name in SPLIT_NAMES
    }
    return Split(
        **paths, protocol=protocol, fractions=fractions, seed=seed, identity_counts=counts,
        dataset_sha256=listing_sha256(dataset),
    )


def split_within_identity(
    dataset: ImageDataset, fractions=(0.7, 0.15, 0.15), seed: int = 0
) -> Split:
    """Closed-set split: every identity appears in every split, with different images."""
    fractions = parse_fractions(fractions)
    rng = np.random.default_rng(seed)
    paths: dict[str, list[str]] = {name: [] for name in SPLIT_NAMES}
    for label, indices in dataset.identities().items():
        shuffled = [indices[i] for i in rng.permutation(len(indices))]
        n = len(shuffled)
        n_val = int(round(n * fractions[1])) if n >= 3 else 0
        n_test = int(round(n * fractions[2])) if n >= 3 else 0
        n_train = n - n_val - n_test
        for name, chunk in zip(
            SPLIT_NAMES, (shuffled[:n_train], shuffled[n_train : n_train + n_val], shuffled[n_train + n_val :])
        ):
            paths[name].extend(dataset.records[i].path for i in chunk)
    counts = _identities_with_pairs(dataset, paths)
    _require_usable(counts, fractions, len(dataset.identities()))
    return Split(
        **paths, protocol="closed-set", fractions=fractions, seed=seed, identity_counts=counts,
        dataset_sha256=listing_sha256(dataset),
    )


def _identities_with_pairs(dataset: ImageDataset, paths: dict[str, list[str]]) -> dict[str, int]:
    """Per split, how many identities have 2+ images there (the ones that make positive pairs)."""
    label_of = {r.path: r.label for r in dataset.records}
    counts = {}
    for name in SPLIT_NAMES:
        per_label: dict[str, int] = {}
        for path in paths[name]:
            per_label[label_of[path]] = per_label.get(label_of[path], 0) + 1
        counts[name] = sum(1 for count in per_label.values() if count >= 2)
    return counts


def _require_usable(counts: dict[str, int], fractions, total: int) -> None:
    for name, fraction in zip(SPLIT_NAMES, fractions):
        if fraction > 0 and counts[name] < 2:
            raise SiamkitError(
                f"split '{name}' has {counts[name]} identit{'y' if counts[name] == 1 else 'ies'} with "
                f"2+ images (of {total} in the dataset; train/val/test = "
                f"{counts['train']}/{counts['val']}/{counts['test']}); need at least 2 in each split"
            )
