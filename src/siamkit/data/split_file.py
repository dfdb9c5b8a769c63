"""A split as a record, and as the ``split.json`` saved next to the run.

``Split`` holds which image paths went to train, validation and test and how they were chosen
(protocol, fractions, seed, identity counts); ``save`` writes it with paths relative to the
dataset's root, ``load`` reads it back under any root. ``load_split_for`` finds a saved split
again by the dataset's content (``listing_sha256``), not by where the dataset lies, so a moved
copy keeps its split and another dataset at the old place does not inherit it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from siamkit.data.dataset import ImageDataset, listing_sha256
from siamkit.errors import SiamkitError

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
