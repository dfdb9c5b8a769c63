"""Which images an evaluation measures, and what its numbers may be called. With a training run's
``split.json`` and ``split="test"``, only the run's test identities are measured. The split is
found by the dataset's content (relative paths and labels), not its location, so a moved copy
still finds it; a dataset that shares images with the run's training part but is not its dataset
is refused for ``split="test"``, and one the run's split says nothing about is reported as
"split unknown", never as open-set. Evaluated images that cannot support the requested metrics
(too few identities, N-way, groups) are refused here, before any embedding is computed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from siamkit.data.dataset import ImageDataset
from siamkit.data.splits import Split, load_split_for
from siamkit.errors import SiamkitError

INCLUDES_TRAINING = "includes the training images"


@dataclass
class SplitSearch:
    """What the model's training run says about the evaluated dataset."""

    split: Split | None  # the run's split, when DATA holds the images it was made from
    unknown: str = ""  # why no split applies, when none does
    trained_images: int = 0  # images of DATA that a non-matching split lists as train or val
    source: Path | None = None  # that split.json


def find_split(dataset: ImageDataset, data: str | os.PathLike, model_folder: Path) -> SplitSearch:
    """The training run's split, if DATA holds the images it was made from (by content, wherever
    it lies); otherwise why not, and how many of DATA's images that run trained or validated on."""
    candidates = [c for c in (Path(data) / "split.json", model_folder.parent / "split.json") if c.is_file()]
    for candidate in candidates:
        split = load_split_for(candidate, dataset)
        if split is not None:
            return SplitSearch(split)
    if not candidates:
        return SplitSearch(None, f"no split.json of the model's training run next to {model_folder}")
    present = {r.path for r in dataset.records}
    for candidate in candidates:
        stored = Split.load(candidate, root=dataset.root)
        trained = len(present & set(stored.train + stored.val))
        if trained:
            return SplitSearch(None, f"not the dataset {candidate} was made from", trained, candidate)
    return SplitSearch(
        None, f"not the dataset {candidates[0]} was made from and shares no image path with its training images"
    )


def _select(
    dataset: ImageDataset, split: Split | None, which: str, search: SplitSearch | None = None
) -> tuple[ImageDataset, ImageDataset | None, dict]:
    if which not in ("test", "all"):
        raise SiamkitError(f"--split '{which}': use test or all")
    if split is not None and which == "all":
        protocol = {
            "setting": INCLUDES_TRAINING,
            "evaluated": f"all images of the dataset, which {INCLUDES_TRAINING}",
            "note": f"the run's split is {split.protocol}; --split test measures its test images only",
        }
        return dataset, split.subset(dataset, "val"), protocol
    if split is None:
        search = search or SplitSearch(None, "no training split given")
        if search.trained_images and which == "test":
            raise SiamkitError(
                f"{dataset.root}: {search.trained_images} of its images are training images of {search.source}, but it "
                "is not the dataset that split was made from (images added, removed, renamed or relabelled since), so "
                "its test images are unknown; evaluate the dataset as it was, or use --split all (reported as "
                "including the training images)"
            )
        if search.trained_images:
            evaluated = f"all images of the dataset, which {INCLUDES_TRAINING} ({search.trained_images} listed in {search.source})"
            return dataset, None, {"setting": INCLUDES_TRAINING, "evaluated": evaluated}
        return dataset, None, {"setting": "unknown", "evaluated": "all images of the dataset", "note": search.unknown}
    protocol = {
        "setting": split.protocol,
        "evaluated": "test split",
        **{f"{name}_identities": count for name, count in split.identity_counts.items()},
        **{f"{name}_groups": count for name, count in split.group_counts.items()},
    }
    return split.subset(dataset, "test"), split.subset(dataset, "val"), protocol


def _usable(dataset: ImageDataset, name: str) -> None:
    sizes = [len(i) for i in dataset.identities().values()]
    if len(sizes) < 2 or max(sizes, default=0) < 2:
        raise SiamkitError(
            f"{name}: {len(sizes)} identities and {sum(s >= 2 for s in sizes)} with 2+ images; evaluation "
            "needs at least 2 identities and one with 2+ images (positive pairs)"
        )


def _check_ways(test: ImageDataset, ways: tuple[int, ...]) -> None:
    """Refuse an N-way setting the data cannot support before spending time on embeddings."""
    usable = sum(1 for indices in test.identities().values() if len(indices) >= 2)
    too_many = [n for n in ways if n > usable]
    if too_many:
        raise SiamkitError(
            f"--ways {too_many[0]}: the evaluated images have only {usable} identities with 2+ images"
        )


def _check_groups(test: ImageDataset, within_group: bool) -> None:
    """Refuse --within-group on data without groups: it would equal the across-groups score
    while being labelled "(within group)"."""
    if within_group and not any(record.group for record in test.records):
        raise SiamkitError(
            f"--within-group: {test.root} has no groups (identity folders are not inside group folders such as "
            "Omniglot's alphabets, and there is no 'group' column); leave out --within-group (within_group)"
        )
