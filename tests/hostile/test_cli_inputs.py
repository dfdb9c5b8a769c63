"""Hostile input through ``siamkit train``: a named one-line outcome, exit 2 for user errors, no traceback.

Bad files inside a dataset are skipped with one warning line naming each of them (one bad JPEG
in ten thousand must not cost a training run). Bad options, configs and datasets that cannot be
trained on stop with one ``siamkit: error:`` line and exit code 2, before any training starts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import make_identity_images
from tests.hostile import hostile_files as files
from tests.hostile.conftest import (
    BAD_FILES,
    ODD_GOOD_FILES,
    SPECIAL_BAD_FILES,
    assert_one_line_error,
    run_all,
    siamkit_command,
    tiny_flags,
)

pytestmark = pytest.mark.slow  # siamkit train on the messy dataset, and each user error, in a subprocess

# --- one run on a dataset holding every bad file -------------------------------------------------


def _skip_warning(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("siamkit: warning: skipped ")]


def _printed(name: str) -> str:
    """How a file name appears on stderr: undecodable bytes come out backslash-escaped."""
    return name.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")


def test_training_on_every_bad_file_at_once_succeeds(messy_run):
    result = messy_run.result
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "Logging error" not in result.stderr, result.stderr
    assert (messy_run.model / "model.safetensors").is_file()
    assert (messy_run.run / "report.html").is_file()


def _expected_bad(messy_run) -> dict[str, str]:
    expected = {name: reason for name, (_, reason) in BAD_FILES.items()}
    expected.update(SPECIAL_BAD_FILES)
    if not messy_run.unreadable_tested:
        del expected["id_07/secret.png"]
    return expected


def test_one_warning_line_names_every_skipped_file_and_why(messy_run):
    # Training scans the dataset once; the evaluation that follows scans it again (and says so again).
    training, _, evaluation = messy_run.result.stderr.partition("siamkit: model folder:")
    warnings = _skip_warning(training)
    assert len(warnings) == 1, messy_run.result.stderr
    assert len(_skip_warning(evaluation)) <= 1
    expected = _expected_bad(messy_run)
    assert f"skipped {len(expected)} unreadable file(s): " in warnings[0]
    reasons = warnings[0].partition("unreadable file(s): ")[2].split("; ")
    for name, reason in expected.items():
        printed = f"{_printed(str(messy_run.data / name))}: "
        matching = [r for r in reasons if r.startswith(printed)]
        assert len(matching) == 1 and reason in matching[0], (name, warnings[0])


def test_unreadable_file_case_ran(messy_run):
    if not messy_run.unreadable_tested:
        pytest.skip("running as root without setpriv: chmod 000 does not stop root from reading")


def test_odd_but_valid_files_are_trained_on(messy_run):
    """CMYK, 16-bit, 1x1, EXIF-rotated, a non-UTF-8 name, a smeared JPEG: all kept in the split."""
    split = json.loads((messy_run.run / "split.json").read_text(encoding="utf-8"))
    used = {p for name in ("train", "val", "test") for p in split[name]}
    for name in ODD_GOOD_FILES:
        assert name in used, name


def test_tiny_identities_are_explained_not_fatal(messy_run):
    stderr = messy_run.result.stderr
    single = [line for line in stderr.splitlines() if "single image" in line]
    assert len(single) == 1 and "solo" in single[0] and single[0].startswith("siamkit: warning: ")
    assert "empty" not in stderr  # a folder without images is simply not an identity


def test_the_folder_loop_is_walked_once(messy_run):
    split = json.loads((messy_run.run / "split.json").read_text(encoding="utf-8"))
    used = [p for name in ("train", "val", "test") for p in split[name]]
    assert not any("back_to_root" in p for p in used) and len(used) == len(set(used))


# --- user errors: one line, exit 2, and nothing trained ----------------------------------------


def _yaml(text: str | bytes):
    def make(tmp: Path, data: Path) -> list:
        config = tmp / "config.yaml"
        config.write_bytes(text if isinstance(text, bytes) else text.encode())
        return [data, "--config", config]

    return make


def _flags(*flags):
    return lambda tmp, data: [data, *flags]


def _csv(text: str):
    def make(tmp: Path, data: Path) -> list:
        (tmp / "list.csv").write_text(text)
        return [tmp / "list.csv"]

    return make


def _only_tiny_identities(tmp: Path, data: Path) -> list:
    for name in ("alice", "bob", "carol", "dan"):
        (tmp / "tiny" / name).mkdir(parents=True)
        (tmp / "tiny" / name / "1.png").write_bytes(files.one_pixel_png())
    (tmp / "tiny" / "nobody").mkdir()
    return [tmp / "tiny"]


def _only_bad_files(tmp: Path, data: Path) -> list:
    for index, (_, (build, _)) in enumerate(BAD_FILES.items()):
        folder = tmp / "bad" / f"id_{index % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{index}.jpg").write_bytes(build())
    return [tmp / "bad"]


def _self_link(tmp: Path, data: Path) -> list:
    os.symlink(tmp / "loop", tmp / "loop")
    return [tmp / "loop"]


# (id, arguments after "siamkit train", fragment of the one error line, stage). Stage "options":
# refused while reading the options, before the run folder is made (these cases get no other
# flags: a --set would override the bad value). Stage "data": refused after reading the dataset,
# before any training; these get the tiny-run flags, so a missed error costs seconds, not hours.
ERROR_CASES = [
    ("YAML unknown key", _yaml("marign: 0.5\n"), "unknown key 'marign' (did you mean 'margin'?)", "options"),
    ("YAML wrong type", _yaml("batch_size: eight\n"), "config key 'batch_size': expected int, got str ('eight')", "options"),
    ("YAML syntax error", _yaml("margin: [1, 2\n"), "not valid YAML", "options"),
    ("YAML in Latin-1", _yaml("backbone: caf\xe9\n".encode("latin-1")), "not valid YAML", "options"),
    ("unknown backbone flag", _flags("--backbone", "resnet_fifty"), "--backbone 'resnet_fifty' is not a timm model name", "data"),
    ("CSV of missing files", _csv("path,label\nno/1.png,a\nno/2.png,a\nno/3.png,b\n"), "none of the image files could be decoded", "data"),
    ("CSV with an empty path", _csv("path,label\nno/1.png,a\n,b\n"), "line 3 has an empty path or label", "data"),
    ("identities of 0 or 1 images", _only_tiny_identities, "split 'train' has 0 identities with 2+ images", "data"),
    ("dataset of only bad files", _only_bad_files, "none of the image files could be decoded", "data"),
    ("dataset is a symlink loop", _self_link, "dataset not found", "data"),
]


@pytest.fixture(scope="module")
def error_results(tmp_path_factory):
    """Every error case, started side by side: {id: (result, run folder)}."""
    data = make_identity_images(tmp_path_factory.mktemp("good") / "data", identities=6, per_identity=3)
    commands, outs = {}, {}
    for case_id, make_args, _, stage in ERROR_CASES:
        tmp = tmp_path_factory.mktemp("case")
        outs[case_id] = tmp / "run"
        extra = tiny_flags(leave_out=("backbone",)) if stage == "data" else []
        commands[case_id] = siamkit_command("train", *make_args(tmp, data), "--out", outs[case_id], *extra)
    results = run_all(commands)
    return {case_id: (results[case_id], outs[case_id]) for case_id in commands}


@pytest.mark.parametrize("case_id, fragment, stage", [pytest.param(c[0], c[2], c[3], id=c[0]) for c in ERROR_CASES])
def test_user_error_is_one_line_before_any_training(error_results, case_id, fragment, stage):
    result, out = error_results[case_id]
    assert_one_line_error(result, fragment)
    if stage == "options":
        assert not out.exists()
    assert not (out / "checkpoints").exists() and not (out / "history.csv").exists() and not (out / "model").exists()
    assert "Epoch" not in result.stderr
