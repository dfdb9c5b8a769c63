"""Atomic file writes: write to a temporary name in the same folder, then rename.

A crash, a full disk or Ctrl-C in the middle of a write would otherwise leave a truncated
checkpoint, model folder or index that the next run refuses (or worse, half-trusts).
``os.replace`` is atomic on POSIX and Windows when source and target share a file system, so
readers see either the old file or the complete new one. The data is fsynced before the rename
(else a power cut can leave an empty file under the final name) and the folder after it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

from siamkit.errors import SiamkitError


class UnwritableOutput(SiamkitError, OSError):
    """A file that could not be written: one line for the CLI, still an OSError to code that catches those."""


def _default_mode() -> int:
    """What ``open()`` would give a new file (mkstemp makes it owner-only, 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _fsync_folder(folder: Path) -> None:
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open folders; the rename is still atomic
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path next to ``target``; rename it over ``target`` on success."""
    target = Path(target)
    if target.exists() and not target.is_file():
        # Renaming over a device or pipe would replace it (as root: /dev/full becomes a plain file).
        kind = "a folder" if target.is_dir() else "not a regular file"
        raise UnwritableOutput(f"cannot write {target}: it is {kind}")
    temporary = None
    try:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        except OSError as exc:
            raise UnwritableOutput(f"cannot write {target}: {exc.strerror or exc}") from exc
        os.close(handle)
        yield temporary
        with open(temporary, "rb+") as written:
            os.fsync(written.fileno())
        os.chmod(temporary, _default_mode())
        os.replace(temporary, target)
        _fsync_folder(target.parent)
    except UnwritableOutput:
        raise
    except OSError as exc:
        # A full disk or a vanished folder while writing: one line naming the file, not the temporary name.
        if exc.filename not in (None, temporary):
            raise
        raise UnwritableOutput(f"cannot write {target}: {exc.strerror or exc}") from exc
    finally:
        if temporary is not None and os.path.exists(temporary):
            os.unlink(temporary)


def write_chunks_atomic(target: str | os.PathLike, chunks: Iterable[bytes]) -> None:
    """Stream ``chunks`` into ``target`` atomically (large indexes need not be joined in memory)."""
    with atomic_path(target) as temporary, open(temporary, "wb") as handle:
        for chunk in chunks:
            handle.write(chunk)


def write_bytes_atomic(target: str | os.PathLike, data: bytes) -> None:
    write_chunks_atomic(target, [data])


def write_text_atomic(target: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(target, text.encode("utf-8"))
