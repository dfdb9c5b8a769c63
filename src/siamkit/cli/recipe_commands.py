"""``siamkit recipes``: the training recipes that ``--config NAME`` accepts."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    app.command("recipes")(recipes_command)


def recipes_command() -> None:
    """List the packaged training recipes (use one with: siamkit train DATA --config NAME)."""
    from siamkit.training.config import recipe_description, recipe_names

    names = recipe_names()
    width = max(len(name) for name in names)
    for name in names:
        typer.echo(f"{name:<{width}}  {recipe_description(name)}")
