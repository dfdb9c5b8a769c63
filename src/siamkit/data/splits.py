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

from siamkit.data.dataset import ImageDataset
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
            "root": os.path.abspath(root),
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
            lists = {name: [os.path.join(base, p) for p in data[name]] for name in SPLIT_NAMES}
            return cls(
                **lists,
                protocol=data["protocol"],
                fractions=tuple(data["fractions"]),
                seed=data["seed"],
                identity_counts=data.get("identity_counts", {}),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SiamkitError(f"{path}: not a readable split.json ({type(exc).__name__}: {exc})") from None


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


def _allocate(count: int, fractions: tuple[float, float, float]) -> tuple[int, int, int]:
    """Split ``count`` items so validation and test get at least 2 when asked for any."""
    n_val = max(2, round(count * fractions[1])) if fractions[1] > 0 else 0
    n_test = max(2, round(count * fractions[2])) if fractions[2] > 0 else 0
    n_train = count - n_val - n_test
    return n_train, n_val, n_test


def split_by_identity(
    dataset: ImageDataset, fractions=(0.7, 0.15, 0.15), seed: int = 0
) -> Split:
    """Open-set split: each identity lands in exactly one of train, val and test.

    Identities with a single image cannot form a positive pair, so they are shuffled in with
    the rest but only ever serve as negatives/distractors; the counts in ``identity_counts``
    cover identities with at least two images, the ones that make positive pairs.
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
    order = [usable[i] for i in rng.permutation(len(usable))]
    n_train, n_val, n_test = _allocate(len(order), fractions)
    parts = {
        "train": order[:n_train],
        "val": order[n_train : n_train + n_val],
        "test": order[n_train + n_val :],
    }
    for position, label in enumerate(singles[i] for i in rng.permutation(len(singles))):
        parts[SPLIT_NAMES[position % 3]].append(label)
    counts = {name: sum(1 for label in parts[name] if label in set(usable)) for name in SPLIT_NAMES}
    _require_usable(counts, fractions, len(usable))
    paths = {
        name: [dataset.records[i].path for label in parts[name] for i in identities[label]]
        for name in SPLIT_NAMES
    }
    return Split(**paths, protocol="open-set", fractions=fractions, seed=seed, identity_counts=counts)


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
    labels_by_path = {r.path: r.label for r in dataset.records}
    counts = {}
    for name in SPLIT_NAMES:
        per_label: dict[str, int] = {}
        for p in paths[name]:
            per_label[labels_by_path[p]] = per_label.get(labels_by_path[p], 0) + 1
        counts[name] = sum(1 for c in per_label.values() if c >= 2)
    _require_usable(counts, fractions, len(dataset.identities()))
    return Split(**paths, protocol="closed-set", fractions=fractions, seed=seed, identity_counts=counts)


def _require_usable(counts: dict[str, int], fractions, total: int) -> None:
    for name, fraction in zip(SPLIT_NAMES, fractions):
        if fraction > 0 and counts[name] < 2:
            raise SiamkitError(
                f"split '{name}' has {counts[name]} identit{'y' if counts[name] == 1 else 'ies'} with "
                f"2+ images (of {total} in the dataset; train/val/test = "
                f"{counts['train']}/{counts['val']}/{counts['test']}); need at least 2 in each split"
            )
