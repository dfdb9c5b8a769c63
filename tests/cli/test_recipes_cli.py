"""Recipes by name: ``--config att-faces`` for train and sweep, and ``siamkit recipes`` to list them.

In-process (no subprocess re-importing torch) and nothing trains: a wrong name stops before any
work, and the one run that gets past the options has its training replaced by a recorder.
"""

from __future__ import annotations

import logging
import sys

import pytest

from siamkit.cli.errors import run_cli
from siamkit.cli.main import app
from tests.conftest import make_identity_images


@pytest.fixture(autouse=True)
def _restore_siamkit_logger():
    """The CLI configures the ``siamkit`` logger for a terminal; put it back for later tests."""
    logger = logging.getLogger("siamkit")
    saved = logger.level, logger.propagate, list(logger.handlers)
    yield
    logger.setLevel(saved[0])
    logger.propagate = saved[1]
    logger.handlers[:] = saved[2]


def siamkit(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["siamkit", *map(str, args)])
    code = run_cli(app)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, stderr: str, *fragments: str) -> None:
    assert code == 2, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("siamkit: error:")]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_recipes_lists_every_shipped_recipe_with_its_description(monkeypatch, capsys):
    from siamkit.training.config import recipe_description, recipe_names

    code, out, _ = siamkit(monkeypatch, capsys, "recipes")
    assert code == 0
    listed = {line.split()[0]: line.split(None, 1)[1] for line in out.splitlines()}
    assert set(listed) == set(recipe_names()) >= {"att-faces", "omniglot", "fashion-mnist", "faces-default"}
    for name, description in listed.items():
        assert description == recipe_description(name)


def test_train_with_a_recipe_name_uses_the_packaged_recipe(monkeypatch, capsys, tmp_path):
    from siamkit.pipelines import train_and_evaluate as pipeline

    used = {}

    def record(data, out, settings, resume=False):
        used["settings"] = settings
        return pipeline.TrainResult(out, out / "model", 0.5, 0.5, 0, 0.0)

    monkeypatch.setattr(pipeline, "train_and_evaluate", record)
    data = make_identity_images(tmp_path / "data", identities=2, per_identity=2)
    code, _, err = siamkit(monkeypatch, capsys, "train", data, "--out", tmp_path / "run", "--config", "att-faces", "--lr", "0.0003")
    assert code == 0, err
    settings = used["settings"]
    assert (settings.ways, settings.episodes, settings.lr) == ("5", 1000, 3e-4)  # att-faces.yaml, then the flag


@pytest.mark.parametrize("command", ["train", "sweep"])
def test_an_unknown_recipe_name_gets_did_you_mean(monkeypatch, capsys, tmp_path, command):
    data = make_identity_images(tmp_path / "data", identities=2, per_identity=2)
    extra = ["--vary", "margin=0.25,0.5"] if command == "sweep" else []
    code, _, err = siamkit(monkeypatch, capsys, command, data, "--out", tmp_path / "out", *extra, "--config", "omniglott")
    assert_one_line_error(code, err, "--config omniglott", "did you mean 'omniglot'?")
    assert "--vary" not in err  # the mistake is the recipe's name, not a swept value
    assert not (tmp_path / "out").exists()


def test_a_config_path_that_does_not_exist_is_one_line(monkeypatch, capsys, tmp_path):
    data = make_identity_images(tmp_path / "data", identities=2, per_identity=2)
    missing = tmp_path / "mine.yaml"
    code, _, err = siamkit(monkeypatch, capsys, "train", data, "--out", tmp_path / "run", "--config", missing)
    assert_one_line_error(code, err, f"--config {missing}: file not found")
