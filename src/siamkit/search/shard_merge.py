"""Merging gallery shards into one :class:`GalleryIndex`, after checking they belong together.

A merge is only worth having if its result is the index that embedding the whole gallery in one
go would have built, so every way shards can fail to add up to one gallery is refused with an
error that names the shards involved: another model, another split, another (or a changed)
gallery listing, the same shard twice, a shard missing. Once the shards agree, their images are
put back in listing order, which is the order a one-go build numbers them in, so the merged
index has the same item ids, paths and vectors (and therefore answers searches the same way).
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from siamkit.errors import SiamkitError
from siamkit.search.gallery_index import GalleryIndex
from siamkit.search.gallery_shard import GalleryShard


def load_shards(paths: Sequence[str | os.PathLike]) -> list[GalleryShard]:
    if not paths:
        raise SiamkitError("no shard files given; pass every shard that siamkit index --shard wrote")
    return [GalleryShard.load(path) for path in paths]


def check_shards(shards: Sequence[GalleryShard], gallery: str | os.PathLike | None = None) -> str:
    """Refuse shards that do not make up one gallery exactly; return the gallery folder to use."""
    first = shards[0]
    for shard in shards[1:]:
        if shard.model_id != first.model_id:
            raise SiamkitError(
                f"shards come from different models: {first.name} (model {first.model_id}) and "
                f"{shard.name} (model {shard.model_id}); embed every shard with the same model"
            )
        if shard.count != first.count:
            raise SiamkitError(
                f"shards split the gallery differently: {first.name} is shard {first.spec}, "
                f"{shard.name} is shard {shard.spec}; use one --shard I/N count for all"
            )
        if (shard.listing_sha256, shard.listing_size) != (first.listing_sha256, first.listing_size):
            sizes = (
                f"{first.listing_size} vs {shard.listing_size} images"
                if shard.listing_size != first.listing_size
                else f"the same number of images ({first.listing_size}) but other files"
            )
            raise SiamkitError(
                f"shards list different galleries: {first.name} and {shard.name} saw {sizes}; the gallery "
                "changed between runs (or another folder was given): embed the shards again"
            )
    _check_coverage(shards)
    roots = sorted({shard.gallery for shard in shards})
    if gallery is None and len(roots) > 1:
        raise SiamkitError(
            f"shards were embedded from different folders ({', '.join(roots)}); pass --gallery FOLDER "
            "to say where the merged index finds the images"
        )
    return os.path.abspath(gallery) if gallery is not None else roots[0]


def _check_coverage(shards: Sequence[GalleryShard]) -> None:
    by_number: dict[int, GalleryShard] = {}
    for shard in shards:
        if shard.shard in by_number:
            raise SiamkitError(f"shard {shard.spec} given twice: {by_number[shard.shard].name} and {shard.name}")
        by_number[shard.shard] = shard
    count = shards[0].count
    missing = [f"{number}/{count}" for number in range(count) if number not in by_number]
    if missing:
        raise SiamkitError(f"missing shard(s) {', '.join(missing)} of {count}; embed them with siamkit index --shard")
    # Each image of the listing must be in exactly one shard (embedded or skipped there).
    seen = np.zeros(shards[0].listing_size, dtype=np.int64)
    for shard in shards:
        held = np.concatenate([shard.positions, np.fromiter(shard.skipped, dtype=np.int64, count=len(shard.skipped))])
        if len(held) and (held.min() < 0 or held.max() >= len(seen)):
            raise SiamkitError(f"shard {shard.name} holds images outside the gallery listing; embed that shard again")
        np.add.at(seen, held, 1)
    if (seen != 1).any():
        position = int(np.flatnonzero(seen != 1)[0])
        holders = [s.name for s in shards if position in s.skipped or position in set(s.positions.tolist())]
        where = " and ".join(holders) if holders else "no shard"
        raise SiamkitError(f"image {position} of the gallery listing is in {where}; the shards overlap or have gaps: embed them again")


def merge_shards(
    shards: Sequence[GalleryShard], kind: str = "exact", gallery: str | os.PathLike | None = None, **params
) -> GalleryIndex:
    """One index over every image the shards embedded, numbered in gallery-listing order.

    ``gallery`` is where the merged index says the images are (default: the folder the shards
    were embedded from, which must then be the same for all). ``kind`` and ``params`` go to
    :meth:`GalleryIndex.build`.
    """
    root = check_shards(shards, gallery)
    positions = np.concatenate([shard.positions for shard in shards])
    order = np.argsort(positions, kind="stable")
    if not len(order):
        size = shards[0].listing_size
        raise SiamkitError(f"none of the gallery's {size} image(s) could be decoded; nothing to index")
    embeddings = np.concatenate([shard.embeddings for shard in shards])[order]

    def column(values_of) -> list:
        values = [value for shard in shards for value in values_of(shard)]
        return [values[position] for position in order.tolist()]

    paths = column(lambda shard: shard.absolute_paths(root))
    labels = column(lambda shard: shard.labels)
    hashes = column(lambda shard: shard.content_hashes)
    return GalleryIndex.build(embeddings, paths, labels, hashes, shards[0].model_id, kind=kind, **params)


def skipped_images(shards: Sequence[GalleryShard]) -> dict[int, str]:
    """Listing position -> reason, for every image some shard could not decode."""
    return {position: reason for shard in shards for position, reason in shard.skipped.items()}
