"""How the CLI ends: one line for user errors (exit 2), never a traceback for them."""

from __future__ import annotations

import errno
import logging
import os
import sys
import warnings

from siamkit.errors import SiamkitError


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prefix = "siamkit: " if record.levelno < logging.WARNING else f"siamkit: {record.levelname.lower()}: "
        return prefix + record.getMessage()


def configure_logging(verbose: bool = False, quiet: bool = False) -> None:
    """siamkit's log on stderr: INFO by default, DEBUG with ``-v``, warnings and errors only with ``-q``."""
    logger = logging.getLogger("siamkit")
    if not any(getattr(h, "_siamkit", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_Formatter())
        handler._siamkit = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    secondary = int(os.environ.get("RANK", "0") or 0) > 0  # other torchrun processes: warnings only
    logger.setLevel(logging.WARNING if secondary or quiet else logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
    # Third-party chatter that says nothing actionable to a siamkit user.
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="lightning")
    warnings.filterwarnings("ignore", category=UserWarning, module="torch.utils.data")
    _log_siamkit_warnings()


_PACKAGE_FOLDER = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _log_siamkit_warnings() -> None:
    """siamkit's own ``warnings.warn`` (there for Python callers) as one ``siamkit: warning:`` line.

    Python would print them as "path/to/ivf_backend.py:61: UserWarning: ..." plus the source
    line: noise to a command-line user, and a second copy where the code also logs.
    """
    shown = warnings.showwarning
    if getattr(shown, "_siamkit", False):
        return

    def show(message, category, filename, lineno, file=None, line=None):
        if os.path.abspath(filename).startswith(_PACKAGE_FOLDER + os.sep):
            logging.getLogger("siamkit").warning("%s", message)
        else:
            shown(message, category, filename, lineno, file, line)

    show._siamkit = True  # type: ignore[attr-defined]
    warnings.showwarning = show


def _click_kind(exc: BaseException) -> str | None:
    """Which of click's exceptions ``exc`` is, by class name.

    Typer 0.29 carries its own copy of click (``typer._click``) whose exceptions are not click's,
    and older Typer raises click's own; matching names keeps one answer for both.
    """
    for cls in type(exc).__mro__:
        if cls.__module__.split(".")[0] in ("click", "typer") and cls.__name__ in _CLICK_KINDS:
            return cls.__name__
    return None


# The machine, not siamkit: a full disk or quota, a read-only file system. Writes through
# siamkit.io.atomic already say which file; this catches the ones that go elsewhere (Lightning's logs).
_FULL_OR_READ_ONLY = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)

_CLICK_KINDS = ("NoArgsIsHelpError", "UsageError", "ClickException", "Abort", "Exit")


def _usage_lines(exc) -> list[str]:
    """The usage line of the command that was misused, and where to read more."""
    ctx = getattr(exc, "ctx", None)
    if ctx is None:
        return []
    return [ctx.get_usage(), f"Try '{ctx.command_path} --help' for help."]


def _report(lines: list[str]) -> None:
    for line in lines:
        print(line, file=sys.stderr)


def run_cli(app) -> int:
    """Run a Typer app, turning user errors into one line on stderr and exit code 2."""
    try:
        result = app(standalone_mode=False)
    except SiamkitError as exc:
        print(f"siamkit: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("siamkit: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        if exc.errno not in _FULL_OR_READ_ONLY:  # anything else may be a bug: keep its traceback
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"siamkit: error: {where}{exc.strerror}", file=sys.stderr)
        return 2
    except Exception as exc:
        kind = _click_kind(exc)
        if kind is None:
            raise
        if kind == "Exit":
            return int(getattr(exc, "exit_code", 0) or 0)
        if kind == "Abort":
            print("siamkit: aborted", file=sys.stderr)
            return 130
        if kind == "NoArgsIsHelpError":  # `siamkit` alone: what it needs, in the same three lines
            commands = ", ".join(getattr(exc.ctx.command, "commands", {}))
            _report(_usage_lines(exc) + [f"siamkit: error: missing command ({commands})" if commands else "siamkit: error: missing arguments"])
            return 2
        _report(_usage_lines(exc) + [f"siamkit: error: {exc.format_message()}"])
        return 2 if kind == "UsageError" else int(getattr(exc, "exit_code", 1) or 1)
    return result if isinstance(result, int) else 0
