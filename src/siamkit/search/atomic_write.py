"""Replace a file in one step, so readers see the old contents or the new, never a mix.

An index for a large gallery takes seconds to write; a crash, a full disk or Ctrl-C in the middle
would otherwise leave a truncated file that the next run refuses (or worse, half-trusts). Writing
to a temporary name in the same folder and renaming it over the target is atomic on POSIX and on
Windows (``os.replace``); the temporary file must be in the same folder because a rename cannot
cross file systems.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterable, Union


def write_atomically(path: Union[str, os.PathLike], chunks: Iterable[bytes]) -> None:
    """Write ``chunks`` to ``path`` through a temporary sibling file and ``os.replace``."""
    target = Path(path)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            # Without fsync the rename can reach the disk before the data does, and a power cut
            # then leaves an empty file under the final name.
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
    _fsync_folder(target.parent)


def _fsync_folder(folder: Path) -> None:
    """Persist the rename itself; folders cannot be opened for this on Windows, which is fine."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
