"""Whether progress bars may be drawn: on a terminal, and not silenced by ``-q``.

A redrawn bar written to a file or a pipe is a long line of ``\\r`` and escape codes; there the
pipelines log a line per step instead (or nothing more). Python callers who pass
``progress=True`` to an embedder themselves get their bar wherever they are (a notebook too).
"""

from __future__ import annotations

import logging
import sys


def show_progress() -> bool:
    return sys.stderr.isatty() and logging.getLogger("siamkit").isEnabledFor(logging.INFO)
