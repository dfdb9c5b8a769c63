"""How progress is shown: a redrawn bar on a terminal, a log line now and then elsewhere, nothing
with ``-q``.

A redrawn bar written to a file or a pipe is a long line of ``\\r`` and escape codes; there the
commands log ``siamkit: embedding: 20,000 of 100,000 images (20 %)`` at every tenth of a long job
instead. Python callers who pass ``progress=True`` to an embedder get their bar wherever they
are (a notebook too).
"""

from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger("siamkit")

LINES = "lines"
LINE_MINIMUM = 1000  # jobs smaller than this are quick: no progress lines at all


def progress_mode():
    """``True`` (a bar), ``"lines"`` (log lines: not a terminal) or ``False`` (``-q``)."""
    if not log.isEnabledFor(logging.INFO):
        return False
    return True if sys.stderr.isatty() else LINES


class LineProgress:
    """tqdm's ``update`` / context-manager interface, logging at every tenth of ``total``."""

    def __init__(self, total: int, description: str, initial: int = 0, unit: str = "images"):
        self.total, self.done, self.description, self.unit = total, initial, description, unit
        self.step = max(1, total // 10)
        self.next = (initial // self.step + 1) * self.step
        self.started = time.perf_counter()

    def update(self, count: int = 1) -> None:
        self.done += count
        if self.total >= LINE_MINIMUM and self.done >= self.next and self.done < self.total:
            log.info("%s: %s of %s %s (%d %%, %.0f s)", self.description, f"{self.done:,}", f"{self.total:,}", self.unit,
                     100 * self.done // self.total, time.perf_counter() - self.started)
            self.next = (self.done // self.step + 1) * self.step

    def __enter__(self) -> "LineProgress":
        return self

    def __exit__(self, *exc) -> None:
        return None


def progress_bar(progress, total: int, description: str, initial: int = 0):
    """A tqdm bar (``progress`` true), log lines (``"lines"``) or a silent stand-in (false)."""
    if progress == LINES:
        return LineProgress(total, description, initial)
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=description, unit="img", disable=not progress, leave=False)
