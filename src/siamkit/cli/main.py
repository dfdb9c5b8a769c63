"""Entry point of the ``siamkit`` command; each group of commands lives in its own module."""

from __future__ import annotations

import sys

import typer

from siamkit.cli.errors import configure_logging, run_cli

app = typer.Typer(
    name="siamkit",
    help="Train, evaluate and serve Siamese networks for image similarity.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_commands() -> None:
    from siamkit.cli import train_commands

    train_commands.register(app)
    for module_name in ("evaluate_commands", "model_commands", "serve_commands"):
        try:
            module = __import__(f"siamkit.cli.{module_name}", fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != f"siamkit.cli.{module_name}":
                raise
            continue
        module.register(app)


_register_commands()


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="More detail in the log.")) -> None:
    configure_logging(verbose)


def main() -> None:
    configure_logging()
    sys.exit(run_cli(app))


if __name__ == "__main__":
    main()
