"""``siamkit --help`` and every ``siamkit COMMAND --help``, read from the installed console script.

Typer renders help with Rich, whose markup parser used to eat ``[default: 160]`` and leave
"Square input size in pixels ." behind: these tests read the help as a user sees it.
"""

from __future__ import annotations

import re

import pytest
from tests.cli.test_usage_errors import SPECS, _run_all


@pytest.fixture(scope="module")
def helps(tmp_path_factory) -> dict:
    cases = {name: [name, "--help"] for name in SPECS}
    cases["(top)"] = ["--help"]
    cases["(version)"] = ["--version"]
    return _run_all(cases, tmp_path_factory.mktemp("help"))


def _text(result) -> str:
    # Rich draws boxes; what matters is the words inside them, joined as one line per row.
    return re.sub(r"[│╭╮╰╯─]", " ", result.stdout)


@pytest.mark.slow
def test_every_help_reads_cleanly(helps):
    for name, result in helps.items():
        if name == "(version)":
            continue
        assert result.returncode == 0 and "Traceback" not in result.stderr, (name, result.stderr)
        text = _text(result)
        assert "Usage: siamkit" in text, name
        assert not re.search(r"\w \.(\s|$)", text), (name, text)  # "Loss margin ." : a default was eaten
        assert "<bool>" not in text, (name, text)
        assert not re.search(r"\{\w+\}", text), (name, text)  # "{data}" in the usage line


@pytest.mark.slow
def test_usage_lines_name_arguments_in_capitals(helps):
    usage = {name: _text(result).split("Usage: ", 1)[1].splitlines()[0] for name, result in helps.items() if name != "(version)"}
    assert usage["train"].split() == ["siamkit", "train", "[OPTIONS]", "DATA"]
    assert usage["search"].split() == ["siamkit", "search", "[OPTIONS]", "INDEX", "QUERIES..."]
    assert usage["merge-index"].split() == ["siamkit", "merge-index", "[OPTIONS]", "SHARDS..."]


@pytest.mark.slow
def test_train_help_shows_the_real_defaults(helps):
    from siamkit.losses import LOSSES
    from siamkit.training.config import TrainConfig

    text = " ".join(_text(helps["train"]).split())
    defaults = TrainConfig()
    assert f"[default: {defaults.loss}]" in text
    assert f"Square input size in pixels [default: {defaults.image_size}]" in text
    assert f"[default: {defaults.lr:g}]" in text and f"[default: {defaults.max_epochs}]" in text
    assert "[default: --open-set]" in text and "[default: --evaluate]" in text
    assert f"triplet {LOSSES.metadata('triplet')['default_margin']:g}" in text
    search = " ".join(_text(helps["search"]).split())
    assert "[default: the one that built the index]" in search


@pytest.mark.slow
def test_version_prints_the_package_version(helps):
    from siamkit.version import __version__

    result = helps["(version)"]
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"siamkit {__version__}"
