"""End to end: a tiny trained model folder -> ``siamkit evaluate`` -> metrics.json and report.html.

Every test here reads the session's one tiny trained run (``trained`` in ``tests/conftest.py``:
12 identities x 4 images, split 6 / 3 / 3, trained and evaluated with 2- and 3-way one-shot).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from siamkit.errors import SiamkitError
from siamkit.pipelines.evaluation_run import evaluate_model_folder
from tests.conftest import make_identity_images

VERIFICATION_KEYS = {
    "roc_auc", "eer", "tpr_at_fpr", "threshold", "threshold_rule", "accuracy", "precision", "recall", "f1",
    "confusion_matrix", "pairs",
}


def _check_section(section: dict, name: str) -> None:
    assert VERIFICATION_KEYS <= set(section["verification"]), name
    assert set(section["verification"]["tpr_at_fpr"]) == {"0.01", "0.001"}, name
    retrieval = section["retrieval"]
    assert set(retrieval["recall_at_k"]) == {"1", "5", "10"} and {"precision_at_1", "map_at_r"} <= set(retrieval), name
    assert set(section["one_shot"]) == {"2", "3"}, name
    for ways, result in section["one_shot"].items():
        assert {"accuracy", "ci95", "episodes"} <= set(result), f"{name} one_shot {ways}"
        assert 0 <= result["accuracy"] <= 1 and result["episodes"] == 20
    assert 0 <= section["triplet_accuracy"] <= 1, name


def test_metrics_json_has_every_section_and_the_report_is_self_contained(trained):
    metrics = json.loads((trained["run"] / "metrics.json").read_text())
    assert {"protocol", "verification", "retrieval", "one_shot", "triplet_accuracy", "baseline", "model", "timing"} <= set(metrics)
    assert metrics["protocol"]["setting"] == "open-set" and metrics["protocol"]["test_identities"] == 3
    _check_section(metrics, "trained")
    _check_section(metrics["baseline"], "baseline")
    assert metrics["model"]["backbone"] == "resnet10t" and metrics["model"]["embedding_size"] == 16
    assert "loss" in metrics["model"]
    assert metrics["timing"]["seconds"] > 0 and metrics["timing"]["images_per_second"] > 0

    text = (trained["run"] / "report.html").read_text(encoding="utf-8")
    assert text.count("data:image/png;base64,") >= 5  # curves, ROC, histograms, confusion, retrieval, ...
    assert "http://" not in text and "https://" not in text
    for reference in re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", text):
        assert reference.startswith("data:"), reference


def _shuffled_copy(data: Path, out: Path, seed: int = 1) -> Path:
    """The same images with identity labels shuffled among them (each identity keeps 4 images)."""
    images = sorted(data.rglob("*.png"))
    folders = sorted({image.parent.name for image in images})
    order = np.random.default_rng(seed).permutation(len(images))
    for slot, index in enumerate(order):
        target = out / folders[slot % len(folders)] / f"img_{slot}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(images[index], target)
    return out


def test_the_threshold_is_the_model_folders_even_when_test_labels_change(trained, tmp_path, monkeypatch):
    stored = json.loads((trained["model"] / "config.json").read_text())["threshold"]
    assert json.loads((trained["run"] / "metrics.json").read_text())["verification"]["threshold"] == stored

    # No threshold may be chosen during evaluation at all (the baseline, which picks its own on
    # validation identities, is left out here).
    def refuse(*args, **kwargs):
        raise AssertionError("evaluation chose a threshold instead of using the model folder's")

    monkeypatch.setattr("siamkit.evaluation.summary.choose_threshold", refuse)
    shuffled = _shuffled_copy(trained["data"], tmp_path / "shuffled")
    result = evaluate_model_folder(trained["model"], shuffled, tmp_path / "eval", split="all", ways="2", episodes=20, baseline=False, plots=False)
    assert result.metrics["verification"]["threshold"] == stored
    assert result.metrics["verification"]["threshold_rule"] == "max_accuracy"


def _not_a_model(trained, folder: Path) -> list:
    (folder / "notes.txt").parent.mkdir(parents=True)
    (folder / "notes.txt").write_text("not a model")
    return [folder, trained["data"]]


def _other_format_version(trained, folder: Path) -> list:
    shutil.copytree(trained["model"], folder)
    config = json.loads((folder / "config.json").read_text())
    config["format_version"] = config["format_version"] + 1
    (folder / "config.json").write_text(json.dumps(config))
    return [folder, trained["data"]]


def _fewer_identities_than_ways(trained, folder: Path) -> list:
    # One folder deeper, so no image path is also one of the training data's.
    make_identity_images(folder / "other", identities=3, per_identity=3, seed=5)
    return [trained["model"], folder, "--ways", "5"]


def _no_positive_pairs(trained, folder: Path) -> list:
    make_identity_images(folder / "other", identities=4, per_identity=1, seed=6)
    return [trained["model"], folder]


def _within_group_without_groups(trained, folder: Path) -> list:
    return [trained["model"], trained["data"], "--within-group"]  # identity folders, no group folders


BAD_INPUTS = {
    "not-a-model": _not_a_model,
    "within-group-without-groups": _within_group_without_groups,
    "other-format-version": _other_format_version,
    "fewer-identities-than-ways": _fewer_identities_than_ways,
    "no-positive-pairs": _no_positive_pairs,
}


@pytest.fixture(scope="module")
def cli_runs(trained, tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    """Every ``siamkit evaluate`` command of this module, run side by side (each is a fresh Python
    that imports torch; one after another they would dominate the module's time)."""
    root = tmp_path_factory.mktemp("evaluate-cli")
    commands = {name: [*make(trained, root / name), "--out", root / name / "out"] for name, make in BAD_INPUTS.items()}
    for number in (1, 2):  # the same command twice
        commands[f"good-{number}"] = [trained["model"], trained["data"], "--ways", "2,3", "--episodes", "30",
                                      "--out", root / f"good-{number}"]
    started = {
        name: (arguments, subprocess.Popen([sys.executable, "-m", "siamkit.cli.main", "evaluate", *map(str, arguments)],
                                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        for name, arguments in commands.items()
    }
    finished = {}
    for name, (arguments, process) in started.items():
        stdout, stderr = process.communicate(timeout=600)
        finished[name] = subprocess.CompletedProcess(arguments, process.returncode, stdout, stderr)
    return finished


@pytest.mark.slow
@pytest.mark.parametrize(
    "case",
    [
        "not-a-model",
        "other-format-version",
        "fewer-identities-than-ways",
        "no-positive-pairs",
        "within-group-without-groups",
    ],
)
def test_evaluate_rejects_bad_input_with_one_line(cli_runs, case):
    completed = cli_runs[case]
    lines = [line for line in completed.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("siamkit: error:")]
    assert completed.returncode == 2, completed.stderr
    assert "Traceback" not in completed.stderr
    assert len(errors) == 1 and lines == errors, completed.stderr


@pytest.mark.slow
def test_the_same_command_twice_gives_the_same_metrics(cli_runs):
    outputs = []
    for name in ("good-1", "good-2"):
        completed = cli_runs[name]
        assert completed.returncode == 0, completed.stderr
        metrics = json.loads((Path(completed.args[-1]) / "metrics.json").read_text())
        metrics.pop("timing")
        outputs.append(metrics)
    first, second = outputs
    assert first["protocol"]["evaluated"] == "test split"
    assert first == second


def _banner(report: Path) -> str:
    return re.search(r'<p class="protocol">(.*?)</p>', report.read_text(encoding="utf-8")).group(1)


@pytest.fixture
def siamkit_log(caplog):
    """Log lines of the ``siamkit`` logger, which the command line prints on the terminal."""
    logger = logging.getLogger("siamkit")
    logger.addHandler(caplog.handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    yield caplog
    logger.setLevel(level)
    logger.removeHandler(caplog.handler)


def test_split_all_says_it_includes_the_training_images(trained, tmp_path, siamkit_log):
    result = evaluate_model_folder(trained["model"], trained["data"], tmp_path / "eval", split="all", ways="2",
                                   episodes=20, baseline=False, plots=False)
    assert "includes the training images" in result.metrics["protocol"]["setting"]
    banner = _banner(result.report_path)
    assert "includes the training images" in banner and "Closed-set" not in banner and "Open-set" not in banner
    evaluating = {r.getMessage() for r in siamkit_log.records if r.getMessage().startswith("evaluating ")}
    assert len(evaluating) == 1 and "includes the training images" in evaluating.pop()


@pytest.mark.parametrize("protocol", ["closed-set", "open-set", "open-set by group", "closed-set (the dataset's own test split)"])
def test_split_all_of_any_run_is_labelled_as_including_the_training_images(tmp_path, protocol):
    from siamkit.data.dataset import scan_dataset
    from siamkit.data.splits import Split
    from siamkit.pipelines.evaluation_run import _select

    dataset = scan_dataset(make_identity_images(tmp_path, identities=6, per_identity=3))
    paths = [r.path for r in dataset.records]
    split = Split(paths[:6], paths[6:12], paths[12:], protocol=protocol)
    _, _, selected = _select(dataset, split, "all")
    assert selected["setting"] == "includes the training images"
    assert "includes the training images" in selected["evaluated"]


def test_a_moved_copy_of_the_training_data_is_still_evaluated_on_its_test_split(trained, tmp_path):
    moved = shutil.copytree(trained["data"], tmp_path / "moved" / "data_copy")
    result = evaluate_model_folder(trained["model"], moved, tmp_path / "eval", ways="2", episodes=20, baseline=False, plots=False)
    protocol = result.metrics["protocol"]
    assert protocol["evaluated"] == "test split" and protocol["setting"] == "open-set"
    assert result.metrics["test_images"] == 12  # the 3 test identities, not all 48 images

    # A run folder from before datasets were identified by content: split.json without a fingerprint.
    old_run = tmp_path / "old_run"
    shutil.copytree(trained["model"], old_run / "model")
    stored = json.loads((trained["run"] / "split.json").read_text())
    stored.pop("dataset_sha256", None)
    (old_run / "split.json").write_text(json.dumps(stored))
    for data in (trained["data"], moved):  # at the same place, and moved with the same relative paths
        result = evaluate_model_folder(old_run / "model", data, tmp_path / "eval_old", ways="2", episodes=20, baseline=False, plots=False)
        assert result.metrics["protocol"]["evaluated"] == "test split" and result.metrics["test_images"] == 12


def test_a_changed_copy_of_the_training_data_is_refused_for_a_test_split(trained, tmp_path):
    changed = shutil.copytree(trained["data"], tmp_path / "changed")
    (changed / "id_00" / "img_0.png").unlink()  # no longer the dataset the split was made from
    with pytest.raises(SiamkitError, match="split") as caught:
        evaluate_model_folder(trained["model"], changed, tmp_path / "eval", ways="2", episodes=20, baseline=False)
    assert "\n" not in str(caught.value)
    result = evaluate_model_folder(trained["model"], changed, tmp_path / "eval", split="all", ways="2", episodes=20,
                                   baseline=False, plots=False)
    assert "includes the training images" in _banner(result.report_path)


def test_without_the_runs_split_the_report_says_the_split_is_unknown(trained, tmp_path):
    alone = shutil.copytree(trained["model"], tmp_path / "shared" / "model")  # the model folder without its run
    moved = shutil.copytree(trained["data"], tmp_path / "moved")
    result = evaluate_model_folder(alone, moved, tmp_path / "eval", ways="2", episodes=20, baseline=False, plots=False)
    assert result.metrics["protocol"]["setting"] == "unknown"
    banner = _banner(result.report_path)
    assert "Split unknown" in banner and "Open-set" not in banner


@pytest.mark.slow
def test_within_group_without_groups_names_the_option(cli_runs, trained, tmp_path):
    assert "--within-group" in cli_runs["within-group-without-groups"].stderr
    with pytest.raises(SiamkitError, match="--within-group"):
        evaluate_model_folder(trained["model"], trained["data"], tmp_path / "eval", split="all", ways="2",
                              episodes=20, within_group=True, baseline=False)
    assert not (tmp_path / "eval" / "metrics.json").exists()


def test_unsupported_operating_points_are_reported_as_such(trained, tmp_path, caplog):
    # 12 identities x 4 images: 72 same and 72 different pairs, too few for FPR 1% or 0.1%.
    with caplog.at_level(logging.INFO, logger="siamkit"):
        result = evaluate_model_folder(trained["model"], trained["data"], tmp_path / "eval", split="all", ways="2",
                                       episodes=20, baseline=False, plots=False)
    saved = json.loads(result.metrics_path.read_text())["verification"]
    assert saved["tpr_at_fpr"] == {"0.01": None, "0.001": None}
    assert "not measurable with 72 negative pairs" in saved["tpr_at_fpr_not_measurable"]["0.01"]
    assert "not measurable with 72 negative pairs" in result.report_path.read_text(encoding="utf-8")
    summary = [r.getMessage() for r in caplog.records if "ROC AUC" in r.getMessage()]
    assert summary and "TPR at FPR 1%: not measurable with 72 negative pairs" in summary[-1]


def test_plots_off_writes_the_same_numbers_and_a_report_without_figures(trained, tmp_path):
    settings = dict(split="all", ways="2", episodes=20, baseline=False)
    drawn = evaluate_model_folder(trained["model"], trained["data"], tmp_path / "drawn", **settings)
    (tmp_path / "bare" / "plots").mkdir(parents=True)
    (tmp_path / "bare" / "plots" / "roc.png").write_bytes(b"an earlier evaluation's figure")
    from typer.testing import CliRunner

    from siamkit.cli.main import app

    invoked = CliRunner().invoke(app, ["evaluate", str(trained["model"]), str(trained["data"]), "--out", str(tmp_path / "bare"),
                                       "--split", "all", "--ways", "2", "--episodes", "20", "--no-baseline", "--no-plots"])
    assert invoked.exit_code == 0, invoked.output
    bare = SimpleNamespace(metrics_path=tmp_path / "bare" / "metrics.json", report_path=tmp_path / "bare" / "report.html")
    numbers = [json.loads(result.metrics_path.read_text()) for result in (drawn, bare)]
    for metrics in numbers:
        metrics.pop("timing")
    assert numbers[0] == numbers[1]
    assert (tmp_path / "drawn" / "plots" / "roc.png").is_file() and not (tmp_path / "bare" / "plots").exists()
    drawn_html, bare_html = (result.report_path.read_text(encoding="utf-8") for result in (drawn, bare))
    assert "data:image/png;base64," in drawn_html and "data:image/png" not in bare_html
    assert "plots were turned off" in bare_html and "plots were turned off" not in drawn_html
