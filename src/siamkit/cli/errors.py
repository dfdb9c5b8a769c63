"""How the CLI ends: one line for user errors (exit 2), never a traceback for them."""

from __future__ import annotations

import logging
import sys
import warnings

from siamkit.errors import SiamkitError


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prefix = "siamkit: " if record.levelno < logging.WARNING else f"siamkit: {record.levelname.lower()}: "
        return prefix + record.getMessage()


def configure_logging(verbose: bool = False) -> None:
    logger = logging.getLogger("siamkit")
    if not any(getattr(h, "_siamkit", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_Formatter())
        handler._siamkit = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    import os

    secondary = int(os.environ.get("RANK", "0") or 0) > 0  # other torchrun processes: warnings only
    logger.setLevel(logging.WARNING if secondary else logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
    # Third-party chatter that says nothing actionable to a siamkit user.
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="lightning")
    warnings.filterwarnings("ignore", category=UserWarning, module="torch.utils.data")


def run_cli(app) -> int:
    """Run a Typer app, turning user errors into one line on stderr and exit code 2."""
    import click

    try:
        app(standalone_mode=False)
    except SiamkitError as exc:
        print(f"siamkit: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except click.exceptions.Abort:
        print("siamkit: aborted", file=sys.stderr)
        return 130
    except click.exceptions.ClickException as exc:
        print(f"siamkit: error: {exc.format_message()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("siamkit: interrupted", file=sys.stderr)
        return 130
    return 0
