"""Entry point of the ``siamkit`` command; each group of commands lives in its own module."""

from __future__ import annotations

import sys

import typer
import typer.core

from siamkit.cli.errors import configure_logging, run_cli
from siamkit.cli.help_format import SiamkitCommand, SiamkitGroup
from siamkit.version import __version__

app = typer.Typer(
    name="siamkit",
    cls=SiamkitGroup,
    help="Train, evaluate and serve Siamese networks for image similarity.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_commands() -> None:
    from siamkit.cli import train_commands

    train_commands.register(app)
    for module_name in ("evaluate_commands", "model_commands", "serve_commands", "recipe_commands", "gallery_commands", "tune_commands"):
        try:
            module = __import__(f"siamkit.cli.{module_name}", fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != f"siamkit.cli.{module_name}":
                raise
            continue
        module.register(app)
    for command in app.registered_commands:
        if command.cls in (None, typer.core.TyperCommand):  # Typer fills in its own class when none is given
            command.cls = SiamkitCommand


_register_commands()


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"siamkit {__version__}")
        raise typer.Exit()


# -q / -v given anywhere on the command line (main() takes them out before Typer parses the rest)
_LOUDNESS = {"-q": "quiet", "--quiet": "quiet", "-v": "verbose", "--verbose": "verbose"}
_chosen: dict[str, bool] = {"quiet": False, "verbose": False}


@app.callback()
def _main(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="More detail in the log (also after the command)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only warnings, errors and results (also after the command)."),
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
) -> None:
    configure_logging(verbose=verbose or _chosen["verbose"], quiet=quiet or _chosen["quiet"])


def take_loudness(arguments: list[str]) -> tuple[dict[str, bool], list[str]]:
    """``-q/--quiet`` and ``-v/--verbose`` wherever they stand (up to a ``--``), and the rest."""
    chosen, rest = {"quiet": False, "verbose": False}, []
    for position, argument in enumerate(arguments):
        if argument == "--":
            rest += arguments[position:]
            break
        if argument in _LOUDNESS:
            chosen[_LOUDNESS[argument]] = True
        else:
            rest.append(argument)
    return chosen, rest


def main() -> None:
    chosen, rest = take_loudness(sys.argv[1:])
    _chosen.update(chosen)
    sys.argv[1:] = rest
    configure_logging(**chosen)
    sys.exit(run_cli(app))


if __name__ == "__main__":
    main()
