"""Recipes and option files: the YAML files ``--config`` names, packaged (``siamkit.recipes``) or
the user's own, read into a dict of options (:func:`siamkit.training.config.load_config` checks them)."""

from __future__ import annotations

import os
from pathlib import Path

from siamkit.errors import SiamkitError


def recipe_names() -> list[str]:
    """The recipes shipped in ``siamkit.recipes``, by name (the file name without ``.yaml``)."""
    from importlib.resources import files

    return sorted(entry.name[: -len(".yaml")] for entry in files("siamkit.recipes").iterdir() if entry.name.endswith(".yaml"))


def recipe_file(name: str):
    """The packaged recipe ``name`` as an importlib.resources Traversable (a Path in a checkout)."""
    from importlib.resources import files

    return files("siamkit.recipes") / f"{name}.yaml"


def recipe_description(name: str) -> str:
    """The first comment line of recipe ``name``, without its ``#``."""
    for line in recipe_file(name).read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
    return ""


def find_config(path: str | os.PathLike):
    """The file ``--config`` means: an existing YAML file, else a packaged recipe by name.

    A file wins over a recipe of the same name, so a user's own ``att-faces`` in the working
    folder is never shadowed. Anything else is a one-line error: a name gets "did you mean",
    a missing path gets "file not found" (and the recipe it names, for the README's old
    ``configs/NAME.yaml`` paths outside a checkout).
    """
    if not isinstance(path, (str, os.PathLike)) and path.is_file():
        return path  # a recipe already found (a Traversable, which need not be a Path)
    given = Path(path)
    if given.is_file():
        return given
    if given.exists():
        raise SiamkitError(f"--config {path}: not a file")
    import difflib

    text, names = str(path), recipe_names()
    looks_like_name = given.name == text and given.suffix.lower() not in (".yaml", ".yml")
    if looks_like_name and text in names:
        return recipe_file(text)
    if looks_like_name:
        close = difflib.get_close_matches(text, names, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f"; recipes: {', '.join(names)}"
        raise SiamkitError(f"--config {text}: no such file or recipe{hint}")
    hint = f" (the recipe '{given.stem}' is packaged: --config {given.stem})" if given.stem in names else ""
    raise SiamkitError(f"--config {path}: file not found{hint}")


def _read_yaml(path) -> dict:
    """Options from a YAML file: a Path or a packaged recipe (an importlib.resources Traversable)."""
    import yaml

    if not path.is_file():
        raise SiamkitError(f"--config {path}: file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        reason = str(exc).splitlines()[0]
        raise SiamkitError(f"--config {path}: not valid YAML ({reason})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SiamkitError(f"--config {path}: expected a mapping of option: value")
    return {str(k).replace("-", "_"): v for k, v in data.items()}
