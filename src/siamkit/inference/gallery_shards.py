"""Embedding a large gallery folder in shards, resumably: what ``siamkit index --shard I/N`` runs.

Which shard an image belongs to depends only on its path relative to the gallery folder (the
first 8 bytes of its sha256, modulo N). Machines that each embed one shard therefore agree on
the partition without talking to each other, whatever order their file systems list folders in
and wherever the gallery is mounted, and the shards come out about equally large.

Every machine still lists the whole gallery (cheap next to embedding it): the sorted listing's
fingerprint goes into each shard so a merge can refuse shards cut from different listings, and
each image's place in the listing lets the merge number images as a one-go build does.

The work is saved in chunks (``embedding_chunks``), so a killed run, started again with the same
command, embeds only what was not finished and ends with the same shard.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from siamkit.errors import SiamkitError
from siamkit.inference.embedding_chunks import EmbeddedChunk, EmbeddingChunks
from siamkit.inference.gallery import hash_files, read_gallery
from siamkit.search.gallery_shard import GalleryShard

if TYPE_CHECKING:
    from siamkit.inference.siamese_model import SiameseModel

log = logging.getLogger("siamkit")

# Images per saved chunk: a kill loses at most this much work (~20 s on 2 CPU cores at 160 px),
# and a million-image gallery leaves a few hundred chunk files.
DEFAULT_CHUNK_SIZE = 2048


@dataclass(frozen=True)
class ShardSpec:
    """Shard ``index`` (0 to ``count`` - 1) of ``count``."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> "ShardSpec":
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
        if match is None:
            raise SiamkitError(f"--shard {text}: give I/N, shard I of N counting from 0 (0/4, 1/4, 2/4, 3/4)")
        index, count = int(match.group(1)), int(match.group(2))
        if count < 1 or index >= count:
            raise SiamkitError(f"--shard {text}: I must be 0 to N-1 (shards are counted from 0)")
        return cls(index, count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, relative_path: str) -> bool:
        return shard_of(relative_path, self.count) == self.index


def shard_of(relative_path: str, count: int) -> int:
    """The shard of an image: its "/"-separated path relative to the gallery, hashed."""
    digest = hashlib.sha256(relative_path.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % count


@dataclass
class GalleryListing:
    """Every image of a gallery, in the order a one-go index numbers them."""

    root: str
    images: list[tuple[str, str]]  # (absolute path, label), as read_gallery lists them
    relative_paths: list[str]
    sha256: str

    def __len__(self) -> int:
        return len(self.images)


def list_gallery(folder: str | os.PathLike) -> GalleryListing:
    """List a gallery (a folder, CSV listing, IDX folder or user reader's input) for sharding."""
    listed = read_gallery(folder)
    if listed is None:
        raise SiamkitError(
            f"{folder}: give a gallery folder (label = each image's folder), a CSV listing or a folder of IDX files, not an image file"
        )
    root, images = listed
    relative = [Path(os.path.relpath(path, root)).as_posix() for path, _ in images]
    digest = hashlib.sha256()
    for path in relative:  # NUL-separated: no file name contains one
        digest.update(path.encode("utf-8", "surrogateescape") + b"\0")
    return GalleryListing(root, images, relative, digest.hexdigest())


def embed_gallery_shard(
    model: "SiameseModel",
    listing: GalleryListing,
    spec: ShardSpec,
    progress_folder: str | os.PathLike,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: bool = False,
    counts: dict | None = None,
) -> GalleryShard:
    """Embed the images of shard ``spec``, saving chunks in ``progress_folder`` as it goes.

    Chunks a previous run of the same plan left there are reused. The folder is left in place
    (the caller removes it once the shard or index built from it is written). ``counts``, if
    given, receives ``embedded`` (images embedded now) and ``resumed`` (taken from earlier chunks),
    counting readable images only.
    """
    from siamkit.io.terminal import progress_bar

    if chunk_size < 1:
        raise SiamkitError(f"--chunk-size {chunk_size}: must be at least 1")
    mine = [position for position, relative in enumerate(listing.relative_paths) if spec.holds(relative)]
    planned = [mine[start : start + chunk_size] for start in range(0, len(mine), chunk_size)]
    plan = {
        "model_id": model.model_id,
        "gallery": listing.root,
        "listing_sha256": listing.sha256,
        "listing_size": len(listing),
        "shard": str(spec),
        "chunk_size": chunk_size,
    }
    chunks = EmbeddingChunks(progress_folder, plan)
    finished = chunks.resume(planned)
    name = f"shard {spec}" if spec.count > 1 else "gallery"  # an unsharded index is no "shard 0/1"
    if finished:
        log.info("%s: %d of %d chunks were embedded by an earlier run (%s); embedding the rest", name, len(finished), len(planned), progress_folder)
    done_images = sum(len(planned[number]) for number in finished)
    resumed = sum(len(finished[number].positions) for number in finished)  # readable images among them
    with progress_bar(progress, len(mine), name, initial=done_images) as bar:
        for number, positions in enumerate(planned):
            if number in finished:
                continue
            finished[number] = _embed_chunk(model, listing, positions)
            chunks.save(number, finished[number])
            bar.update(len(positions))
    shard = _assemble(model, listing, spec, [finished[number] for number in range(len(planned))])
    if counts is not None:
        counts.update(resumed=resumed, embedded=len(shard.positions) - resumed)
    return shard


def _embed_chunk(model: "SiameseModel", listing: GalleryListing, positions: list[int]) -> EmbeddedChunk:
    paths = [listing.images[position][0] for position in positions]
    hashes = hash_files(paths)
    embedded = model.embed_readable(paths, progress=False)
    return EmbeddedChunk(
        positions=np.asarray([positions[i] for i in embedded.positions], dtype=np.int64),
        content_hashes=[hashes[i] for i in embedded.positions],
        embeddings=np.asarray(embedded.embeddings, dtype=np.float32).reshape(len(embedded.positions), -1),
        skipped={positions[i]: reason for i, reason in embedded.errors.items()},
    )


def _assemble(model: "SiameseModel", listing: GalleryListing, spec: ShardSpec, chunks: list[EmbeddedChunk]) -> GalleryShard:
    positions = np.concatenate([chunk.positions for chunk in chunks]) if chunks else np.zeros(0, np.int64)
    embedded = [chunk.embeddings for chunk in chunks if len(chunk.positions)]
    embeddings = np.concatenate(embedded) if embedded else np.zeros((0, model.embedding_dim), np.float32)
    return GalleryShard(
        shard=spec.index,
        count=spec.count,
        model_id=model.model_id,
        model_folder=str(Path(model.folder).resolve()) if model.folder is not None else "",
        gallery=listing.root,
        listing_sha256=listing.sha256,
        listing_size=len(listing),
        positions=positions,
        relative_paths=[listing.relative_paths[p] for p in positions.tolist()],
        labels=[listing.images[p][1] for p in positions.tolist()],
        content_hashes=[h for chunk in chunks for h in chunk.content_hashes],
        embeddings=embeddings,
        skipped={position: reason for chunk in chunks for position, reason in chunk.skipped.items()},
    )
