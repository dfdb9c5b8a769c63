"""Identity-disjoint train / validation / test splits, saved next to the run.

The default is *open-set*: whole identities go to one split, so validation and test measure how
well the model tells apart people (or whales, or characters) it has never seen — the question a
similarity model exists to answer. The *closed-set* option splits each identity's images
instead, which is what many public notebooks do; reports label it so nobody mistakes the two.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from siamkit.data.dataset import ImageDataset, listing_sha256
from siamkit.errors import SiamkitError

log = logging.getLogger("siamkit")

SPLIT_NAMES = ("train", "val", "test")


@dataclass
class Split:
    """Which image paths belong to train, val and test, and how they were chosen."""

    train: list[str]
    val: list[str]
    test: list[str]
    protocol: str = "open-set"
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    seed: int = 0
    identity_counts: dict[str, int] = field(default_factory=dict)
    group_counts: dict[str, int] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)  # which groups each split got
    dataset_sha256: str = ""  # the dataset it was made from, by content (``listing_sha256``)
    saved_root: str = ""  # where that dataset lay when the split was saved (read back by ``load``)

    def paths(self, name: str) -> list[str]:
        if name not in SPLIT_NAMES:
            raise SiamkitError(f"unknown split '{name}'; use one of {', '.join(SPLIT_NAMES)}")
        return getattr(self, name)

    def subset(self, dataset: ImageDataset, name: str) -> ImageDataset:
        keep = set(self.paths(name))
        return ImageDataset([r for r in dataset.records if r.path in keep], dataset.root, [])

    def to_json(self, root: str) -> dict:
        def relative(paths: list[str]) -> list[str]:
            return sorted(os.path.relpath(p, root) for p in paths)

        return {
            "protocol": self.protocol,
            "fractions": list(self.fractions),
            "seed": self.seed,
            "identity_counts": self.identity_counts,
            **({"group_counts": self.group_counts, "groups": self.groups} if self.groups else {}),
            "root": os.path.abspath(root),
            **({"dataset_sha256": self.dataset_sha256} if self.dataset_sha256 else {}),
            **{name: relative(self.paths(name)) for name in SPLIT_NAMES},
        }

    def save(self, path: str | os.PathLike, root: str) -> None:
        from siamkit.io.atomic import write_text_atomic

        write_text_atomic(path, json.dumps(self.to_json(root), indent=1))

    @classmethod
    def load(cls, path: str | os.PathLike, root: str | None = None) -> "Split":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            base = root or data["root"]
            lists = {name: [os.path.normpath(os.path.join(base, p)) for p in data[name]] for name in SPLIT_NAMES}
            return cls(
                **lists,
                protocol=data["protocol"],
                fractions=tuple(data["fractions"]),
                seed=data["seed"],
                identity_counts=data.get("identity_counts", {}),
                group_counts=data.get("group_counts", {}),
                groups=data.get("groups", {}),
                dataset_sha256=data.get("dataset_sha256", ""),
                saved_root=data.get("root", ""),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SiamkitError(f"{path}: not a readable split.json ({type(exc).__name__}: {exc})") from None


def load_split_for(path: str | os.PathLike, dataset: ImageDataset) -> Split | None:
    """The split saved at ``path`` if ``dataset`` holds the images it was made from, else None.

    Matched by content, not by where the dataset lies, so a moved or copied dataset finds its
    split and another one at the old place does not: the listing fingerprint must be equal. A
    split.json written before the fingerprint matches when its relative paths are exactly the
    dataset's, or, with the dataset still at the saved place, all present in it.
    """
    split = Split.load(path, root=dataset.root)
    if split.dataset_sha256:
        return split if split.dataset_sha256 == listing_sha256(dataset) else None
    listed = {p for name in SPLIT_NAMES for p in split.paths(name)}
    present = {r.path for r in dataset.records}
    same_place = bool(split.saved_root) and os.path.realpath(split.saved_root) == os.path.realpath(dataset.root)
    return split if listed == present or (same_place and listed <= present) else None


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


def split_predefined(dataset: ImageDataset, fractions=(0.7, 0.15, 0.15), seed: int = 0) -> Split:
    """The dataset's own split (Fashion-MNIST's 60,000/10,000, a CSV ``split`` column).

    Its test part stays the test set, untouched, so results compare with published ones.
    Without a ``val`` part, validation is carved out of ``train``: by image when the test
    identities also occur in training (closed-set, as with Fashion-MNIST's 10 classes), by
    identity otherwise.
    """
    fractions = parse_fractions(fractions)
    tagged = {name: [r for r in dataset.records if r.split == name] for name in SPLIT_NAMES}
    if not tagged["train"] or not tagged["test"]:
        raise SiamkitError(
            f"{dataset.root}: a predefined split needs images marked train and test "
            f"(found {len(tagged['train'])} train, {len(tagged['test'])} test)"
        )
    labels = {name: {r.label for r in tagged[name]} for name in SPLIT_NAMES}
    # Every pair of parts: validation sharing test identities tunes the threshold on them.
    shared = [f"{a}/{b}" for a, b in (("train", "val"), ("train", "test"), ("val", "test")) if labels[a] & labels[b]]
    closed = bool(labels["test"] & labels["train"])
    paths = {name: [r.path for r in tagged[name]] for name in SPLIT_NAMES}
    if not tagged["val"]:
        pool = ImageDataset(tagged["train"], dataset.root, [])
        share = (1.0 - fractions[1], fractions[1], 0.0)
        carved = (split_within_identity if closed else split_by_identity)(pool, share, seed)
        paths["train"], paths["val"] = carved.train, carved.val
    counts = _identities_with_pairs(dataset, paths)
    _require_usable(counts, fractions, len(dataset.identities()))
    protocol = "open-set (the dataset's own test split)"
    if shared == ["train/test"]:
        protocol = "closed-set (the dataset's own test split)"
    elif shared:
        protocol = f"closed-set (the dataset's own test split; identities shared by {', '.join(shared)})"
    return Split(
        **paths, protocol=protocol, fractions=fractions, seed=seed, identity_counts=counts,
        dataset_sha256=listing_sha256(dataset),
    )


SPLIT_RULES = ("auto", "identity", "image", "group", "predefined")


def make_split(dataset: ImageDataset, rule: str, fractions, seed: int, fold: str | None = None) -> Split:
    """The split a training run asks for. ``auto`` keeps a dataset's own split when it has one
    (IDX files, a CSV ``split`` column) and otherwise splits by identity."""
    if rule not in SPLIT_RULES:
        raise SiamkitError(f"--split-by '{rule}': choose one of {', '.join(SPLIT_RULES)}")
    if rule == "auto":
        rule = "predefined" if any(r.split for r in dataset.records) else "identity"
    folds = parse_fold(fold)
    if folds is not None and rule not in ("identity", "group"):
        raise SiamkitError(f"--fold {fold}: folds split identities or groups; use --split-by identity or group")
    if rule == "identity":
        return split_by_identity(dataset, fractions, seed, folds)
    if rule == "group":
        return split_by_group(dataset, fractions, seed, folds)
    if rule == "image":
        return split_within_identity(dataset, fractions, seed)
    return split_predefined(dataset, fractions, seed)


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
