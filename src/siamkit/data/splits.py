"""Identity-disjoint train / validation / test splits, saved next to the run.

The default is *open-set*: whole identities go to one split, so validation and test measure how
well the model tells apart people (or whales, or characters) it has never seen — the question a
similarity model exists to answer. The *closed-set* option splits each identity's images
instead, which is what many public notebooks do; reports label it so nobody mistakes the two.

This module picks the rule a run asks for (``make_split``) and keeps a dataset's own split
(``split_predefined``); the rules drawn from a seed live in ``seeded_splits``, the ``split.json``
record in ``split_file``.
"""

from __future__ import annotations

from siamkit.data.dataset import ImageDataset, listing_sha256
from siamkit.data.seeded_splits import (  # noqa: F401  (moved; old import path)
    _identities_with_pairs,
    _require_usable,
    parse_fold,
    parse_fractions,
    split_by_group,
    split_by_identity,
    split_within_identity,
)
from siamkit.data.split_file import SPLIT_NAMES, Split, load_split_for  # noqa: F401  (moved; old import path)
from siamkit.errors import SiamkitError


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
