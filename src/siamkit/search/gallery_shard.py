"""One shard of a gallery's embeddings: what ``siamkit index --shard i/n`` writes and a merge reads.

A gallery too large for one machine (or one sitting) is embedded in ``n`` shards, possibly on
different machines, and the shards are merged into one index (``shard_merge``). A shard carries,
besides its embeddings, everything the merge must check before trusting it:

* ``model_id``: embeddings of two models live in unrelated spaces and must never be mixed;
* ``shard`` / ``count``: which part of which split it is, so a missing or doubled shard is named;
* ``listing_sha256`` / ``listing_size``: a fingerprint of the whole gallery's sorted file list, so
  shards cut from a gallery that changed between runs (or from another folder) are refused;
* ``positions``: each image's place in that listing, so the merged index orders (and numbers)
  its items exactly as embedding the whole gallery in one go does; ``skipped`` holds the
  positions (and reasons) of images that could not be decoded, so none looks missing.

Paths are stored relative to the gallery folder: shards embedded where the gallery is mounted
at different places still merge. The file is the gallery index's container (one file,
sha256-checked, written atomically, no pickle) under its own magic, with the embeddings as raw
little-endian float32 after the JSON metadata.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from siamkit.errors import SiamkitError
from siamkit.search.index_file import Container, read_index_file, write_index_file

SHARD_FORMAT_VERSION = 1
SHARD_FILE = Container(
    b"SIAMKIT-SHARD\x00\x00\x00",
    SHARD_FORMAT_VERSION,
    "shard",
    "siamkit gallery shard",
    "embed that shard again (siamkit index --shard)",
    "embed it with siamkit index --shard",
    "embed it again with this siamkit",
)
_FLOAT32 = np.dtype("<f4")


@dataclass
class GalleryShard:
    """Embeddings of shard ``shard`` of ``count`` of the gallery folder ``gallery``."""

    shard: int
    count: int
    model_id: str
    model_folder: str
    gallery: str
    listing_sha256: str
    listing_size: int
    positions: np.ndarray  # int64 (m,): place of each embedded image in the gallery listing
    relative_paths: list[str]  # "/"-separated, relative to ``gallery``
    labels: list[str]
    content_hashes: list[str]
    embeddings: np.ndarray  # float32 (m, D)
    skipped: dict[int, str] = field(default_factory=dict)  # listing position -> why it was not embedded
    file: Path | None = None

    @property
    def name(self) -> str:
        """How errors refer to this shard: its file, else its place in the split."""
        return str(self.file) if self.file is not None else f"shard {self.spec}"

    @property
    def spec(self) -> str:
        return f"{self.shard}/{self.count}"

    def absolute_paths(self, gallery: str | os.PathLike | None = None) -> list[str]:
        """Each image's path under ``gallery`` (default: where the shard was embedded)."""
        root = Path(gallery if gallery is not None else self.gallery)
        return [str(root.joinpath(*relative.split("/"))) for relative in self.relative_paths]

    def save(self, path: str | os.PathLike) -> None:
        metadata = {
            "shard": self.shard,
            "count": self.count,
            "model_id": self.model_id,
            "model_folder": self.model_folder,
            "gallery": self.gallery,
            "listing_sha256": self.listing_sha256,
            "listing_size": self.listing_size,
            "embedding_dim": int(self.embeddings.shape[1]),
            "positions": self.positions.tolist(),
            "relative_paths": self.relative_paths,
            "labels": self.labels,
            "content_hashes": self.content_hashes,
            "skipped": [[position, reason] for position, reason in sorted(self.skipped.items())],
        }
        try:
            write_index_file(path, metadata, np.ascontiguousarray(self.embeddings, dtype=_FLOAT32).view(np.uint8), SHARD_FILE)
        except OSError as error:
            raise SiamkitError(f"cannot write shard {path}: {error.strerror or error}") from None
        self.file = Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "GalleryShard":
        """Read a shard written by :meth:`save`; damaged or foreign files raise SiamkitError."""
        metadata, payload = read_index_file(path, SHARD_FILE)
        try:
            dim = int(metadata["embedding_dim"])
            positions = np.asarray(metadata["positions"], dtype=np.int64)
            embeddings = payload.view(_FLOAT32).reshape(-1, dim).astype(np.float32)
            shard = cls(
                shard=int(metadata["shard"]),
                count=int(metadata["count"]),
                model_id=str(metadata["model_id"]),
                model_folder=str(metadata["model_folder"]),
                gallery=str(metadata["gallery"]),
                listing_sha256=str(metadata["listing_sha256"]),
                listing_size=int(metadata["listing_size"]),
                positions=positions,
                relative_paths=[str(p) for p in metadata["relative_paths"]],
                labels=[str(label) for label in metadata["labels"]],
                content_hashes=[str(h) for h in metadata["content_hashes"]],
                embeddings=embeddings,
                skipped={int(position): str(reason) for position, reason in metadata["skipped"]},
                file=Path(path),
            )
            columns = (shard.positions, shard.relative_paths, shard.labels, shard.content_hashes, shard.embeddings)
            consistent = len({len(column) for column in columns}) == 1 and 0 <= shard.shard < shard.count
        except (KeyError, TypeError, ValueError):
            consistent = False
        if not consistent:
            raise SiamkitError(f"shard {path} is internally inconsistent; {SHARD_FILE.remedy}")
        return shard
