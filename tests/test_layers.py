"""siamkit's layers, as written in pyproject.toml's import-linter contract, hold.

Front doors (cli; service, demo) over pipelines over the libraries (training, inference; search,
evaluation; models, losses, sampling; data) over the ground floor (registry, io; errors,
version): an import may only point down, and the libraries on one line do not import each other.
A new import that points up, even inside a function, fails here, naming the chain.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_import_layers_contract_is_kept():
    pytest.importorskip("importlinter")
    # In a process of its own: import-linter configures logging, which would disable the siamkit
    # logger for every later test in this session.
    command = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
               "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_contract_names_every_package():
    """A new package must take its place in the layers, or the contract says nothing about it."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    layers = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]["layers"]
    named = {name.strip().removeprefix("siamkit.") for layer in layers for name in layer.split("|")}
    package = ROOT / "src" / "siamkit"
    present = {path.name for path in package.iterdir() if (path / "__init__.py").is_file()}
    present |= {path.stem for path in package.glob("*.py") if path.stem != "__init__"}
    assert present == named
