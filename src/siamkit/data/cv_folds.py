"""Cross-validation folds over a run's development images (its train and validation parts).

With a handful of validation identities, one validation score is noisy: it picks a random epoch or
setting. Cutting the development identities into k folds, training on k - 1 and scoring on the
k-th, gives k scores whose mean is steadier and whose spread says how far to trust it. The test
part is never one of the folds: each fold split keeps it as it is, and nothing that uses the folds
evaluates on it. Folds cut what the split cut: identities (open-set), groups (Omniglot
alphabets), or each identity's images (closed-set, e.g. Fashion-MNIST's 10 classes).
"""

from __future__ import annotations

import numpy as np

from siamkit.data.dataset import ImageDataset
from siamkit.data.seeded_splits import _identities_with_pairs
from siamkit.data.split_file import Split
from siamkit.errors import SiamkitError


def fold_unit(split: Split) -> str:
    """What the folds of ``split`` cut: "group", "image" (closed-set) or "identity"."""
    if split.groups:
        return "group"
    return "image" if split.protocol.startswith("closed-set") else "identity"


def development_folds(dataset: ImageDataset, split: Split, folds: int, seed: int = 0) -> list[Split]:
    """``folds`` splits of the development images: in the i-th, fold i is the validation part and
    the other folds train; the test part is ``split``'s own, untouched.

    Raises a user error when there are fewer units (identities, groups) than folds, or when a fold
    would hold fewer than two identities able to make a positive pair.
    """
    if folds < 2:
        raise SiamkitError(f"--folds {folds}: cross-validation needs at least 2 folds")
    development = set(split.train) | set(split.val)
    records = [r for r in dataset.records if r.path in development]
    unit = fold_unit(split)
    units_word = {"identity": "identities", "group": "groups", "image": "images"}[unit]
    rng = np.random.default_rng(seed)
    assigned: list[list[str]] = [[] for _ in range(folds)]  # image paths of each fold
    if unit == "image":
        by_label: dict[str, list[str]] = {}
        for record in records:
            by_label.setdefault(record.label, []).append(record.path)
        offset = 0
        for label in sorted(by_label):  # each identity's images dealt round the folds, from a rotating start
            paths = sorted(by_label[label])
            for position, index in enumerate(rng.permutation(len(paths))):
                assigned[(offset + position) % folds].append(paths[index])
            offset += len(paths)
    else:
        key = (lambda r: r.group) if unit == "group" else (lambda r: r.label)
        units = sorted({key(r) for r in records})
        if len(units) < folds:
            raise SiamkitError(f"--folds {folds}: the training and validation parts hold only {len(units)} {units_word}")
        order = [units[i] for i in rng.permutation(len(units))]
        fold_of = {name: number for number, chunk in enumerate(np.array_split(np.arange(len(order)), folds)) for name in (order[i] for i in chunk)}
        for record in records:
            assigned[fold_of[key(record)]].append(record.path)
    splits = []
    for number in range(folds):
        paths = {
            "train": sorted(p for other, chunk in enumerate(assigned) if other != number for p in chunk),
            "val": sorted(assigned[number]),
            "test": list(split.test),
        }
        counts = _identities_with_pairs(dataset, paths)
        if counts["val"] < 2 or counts["train"] < 2:
            raise SiamkitError(
                f"--folds {folds}: fold {number + 1} would validate on {counts['val']} and train on {counts['train']} "
                f"identities with 2+ images; need at least 2 each (use fewer folds)"
            )
        splits.append(Split(
            **paths,
            protocol=f"{split.protocol}; cross-validation fold {number + 1}/{folds} of the training and validation {units_word}",
            fractions=split.fractions, seed=seed, identity_counts=counts, dataset_sha256=split.dataset_sha256,
        ))
    return splits
