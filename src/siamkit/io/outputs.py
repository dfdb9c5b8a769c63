"""Refuse an output path that cannot be written before any work starts.

A run that trains for an hour and then finds it cannot write its model folder has wasted the
hour, so every command that writes checks its outputs first: a folder where a file is expected
(or the reverse), a device or pipe (``/dev/full``, ``/dev/null``), a read-only or special file
system (``/proc``, ``/sys``), a parent that cannot be created. The check creates nothing that
stays behind: it probes the nearest existing folder with a temporary file and removes it.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from siamkit.errors import SiamkitError


def _reason(exc: OSError) -> str:
    return exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))


def _nearest_existing(path: Path) -> Path:
    candidate = path
    while not candidate.exists() and candidate != candidate.parent:
        candidate = candidate.parent
    return candidate


def _probe_folder(folder: Path, option: str, path: Path) -> None:
    """Create and remove a temporary file in ``folder``: the only test that every file system answers truly."""
    if not folder.is_dir():
        raise SiamkitError(f"{option} {path}: {folder} is not a folder")
    try:
        handle, probe = tempfile.mkstemp(prefix=".siamkit-write-check.", dir=folder)
    except OSError as exc:
        raise SiamkitError(f"{option} {path}: cannot write in {folder} ({_reason(exc)})") from None
    os.close(handle)
    os.unlink(probe)


def check_output_file(path: str | os.PathLike, option: str = "--out") -> Path:
    """``path`` can be written as a regular file (it may exist, and its folders may not yet)."""
    path = Path(path)
    if path.is_dir():
        raise SiamkitError(f"{option} {path}: is a folder; give a file name")
    if path.exists() and not path.is_file():
        raise SiamkitError(f"{option} {path}: not a regular file (a device, pipe or socket); give a file name")
    _probe_folder(_nearest_existing(path.parent), option, path)
    return path


def check_output_folder(path: str | os.PathLike, option: str = "--out") -> Path:
    """``path`` is, or can be created as, a folder that files can be written in."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise SiamkitError(f"{option} {path}: is a file, not a folder")
    _probe_folder(_nearest_existing(path), option, path)
    return path
