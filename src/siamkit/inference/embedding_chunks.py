"""Embedding progress that survives a kill: a folder of chunk files, each written atomically.

Embedding a million images takes hours, and a run can be killed at any moment (SIGKILL, the
OOM killer, a pre-empted machine). The work is cut into chunks of consecutive images; each
finished chunk (embeddings, content hashes, listing positions, and the images that would not
decode) is saved as ``chunk-NNNNNN.npz`` by a temporary name and a rename, so a chunk file is
either whole or absent. A rerun of the same command reads the chunks that are there and embeds
only the rest.

A chunk is only reused by the run it was made for: the folder's ``plan.json`` (model id, gallery
folder and listing fingerprint, shard, chunk size) must match, and so must the positions inside
the chunk. A folder left by a different plan is emptied, with a warning, rather than trusted.
The folder belongs to siamkit: it is removed once the final file has been written.
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from siamkit.errors import SiamkitError
from siamkit.io.atomic import atomic_path, write_text_atomic

log = logging.getLogger("siamkit")

PLAN_NAME = "plan.json"
_CHUNK_PREFIX = "chunk-"


@dataclass
class EmbeddedChunk:
    """Consecutive images of a plan: the ones embedded, and the ones skipped with the reason."""

    positions: np.ndarray  # int64 (m,): listing positions of the embedded images
    content_hashes: list[str]
    embeddings: np.ndarray  # float32 (m, D)
    skipped: dict[int, str]  # listing position -> reason

    def holds(self) -> list[int]:
        return sorted(self.positions.tolist() + list(self.skipped))


class EmbeddingChunks:
    """The chunk folder of one plan (``plan`` is a JSON-serialisable dict)."""

    def __init__(self, folder: str | os.PathLike, plan: dict):
        self.folder = Path(folder)
        self.plan = plan

    def _chunk_path(self, number: int) -> Path:
        return self.folder / f"{_CHUNK_PREFIX}{number:06d}.npz"

    def resume(self, expected: list[list[int]]) -> dict[int, EmbeddedChunk]:
        """The finished chunks of this plan, by number; ``expected[n]`` are chunk n's positions.

        Writes ``plan.json`` (emptying a folder left by another plan) so later chunks can be saved.
        """
        plan_file = self.folder / PLAN_NAME
        if self.folder.is_dir() and plan_file.exists():
            try:
                earlier = json.loads(plan_file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                earlier = None
            if earlier != self.plan:
                log.warning("%s holds an unfinished run of another model, gallery, shard or chunk size; starting over", self.folder)
                self.clear()
        elif self.folder.exists() and not self.folder.is_dir():
            raise SiamkitError(f"{self.folder} is in the way: siamkit keeps embedding progress in a folder of that name")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            if not plan_file.exists():
                write_text_atomic(plan_file, json.dumps(self.plan, indent=1, sort_keys=True))
        except OSError as error:
            raise SiamkitError(f"cannot write embedding progress to {self.folder}: {error.strerror or error}") from None
        finished = {}
        for number, positions in enumerate(expected):
            chunk = self._read(number)
            if chunk is not None and chunk.holds() == positions:
                finished[number] = chunk
        return finished

    def _read(self, number: int) -> EmbeddedChunk | None:
        path = self._chunk_path(number)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as stored:
                if str(stored["plan"]) != json.dumps(self.plan, sort_keys=True):
                    return None
                return EmbeddedChunk(
                    positions=stored["positions"].astype(np.int64),
                    content_hashes=[str(h) for h in stored["content_hashes"]],
                    embeddings=stored["embeddings"].astype(np.float32),
                    skipped=dict(zip(stored["skipped_positions"].tolist(), map(str, stored["skipped_reasons"]))),
                )
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
            log.warning("embedding progress %s is unreadable (%s); embedding that chunk again", path, error)
            return None

    def save(self, number: int, chunk: EmbeddedChunk) -> None:
        skipped = sorted(chunk.skipped.items())
        try:
            with atomic_path(self._chunk_path(number)) as temporary, open(temporary, "wb") as handle:
                np.savez(
                    handle,
                    plan=np.array(json.dumps(self.plan, sort_keys=True)),
                    positions=np.asarray(chunk.positions, dtype=np.int64),
                    content_hashes=np.array(chunk.content_hashes, dtype="U64"),
                    embeddings=np.asarray(chunk.embeddings, dtype=np.float32),
                    skipped_positions=np.array([position for position, _ in skipped], dtype=np.int64),
                    skipped_reasons=np.array([reason for _, reason in skipped], dtype=str),
                )
        except OSError as error:
            raise SiamkitError(f"cannot write embedding progress to {self.folder}: {error.strerror or error}") from None

    def clear(self) -> None:
        remove_progress(self.folder)


def progress_folder(output: str | os.PathLike) -> Path:
    """Where the chunks of the run writing ``output`` live: ``OUTPUT.chunks`` beside it."""
    output = Path(output)
    return output.with_name(output.name + ".chunks")


def remove_progress(folder: str | os.PathLike) -> None:
    """Delete a chunk folder's chunk files and plan (the folder too, unless something else is in it).

    Called once the result is safely written. Only siamkit's own files are deleted, so a folder
    the user happened to name ``*.chunks`` loses nothing else.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return
    try:
        for path in folder.iterdir():
            if path.name.lstrip(".").startswith((PLAN_NAME, _CHUNK_PREFIX)):  # ours, or our temporary files
                path.unlink(missing_ok=True)
        folder.rmdir()
    except OSError as error:
        log.warning("could not remove the embedding progress in %s (%s); delete it by hand", folder, error)
