"""Every misuse of the installed ``siamkit`` script ends in a usage line and one error line, exit 2.

The cases are built from each command's own parameters (``benchmarks/fuzz_cli.py`` reads them
from the command functions), so a new command or option is covered without editing this table.
They run the real console script, whatever Typer or click version is installed: Typer 0.29
carries its own click, whose exceptions the old handler did not recognise.
"""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from tests.conftest import load_benchmark

fuzz = load_benchmark("fuzz_cli")
SPECS = fuzz.command_specs()


def _run_all(cases: dict[str, list[str]], cwd: Path) -> dict[str, subprocess.CompletedProcess]:
    def run(args):
        return subprocess.run([fuzz.siamkit_script(), *args], capture_output=True, text=True, timeout=120, cwd=cwd, stdin=subprocess.DEVNULL)

    with ThreadPoolExecutor(3) as pool:
        futures = {key: pool.submit(run, args) for key, args in cases.items()}
        return {key: future.result() for key, future in futures.items()}


def _placeholder(param) -> list[str]:
    """A value that parses for ``param`` (whether or not the file exists)."""
    return {"int": ["1"], "float": ["0.5"], "bool": []}.get(param.kind, ["placeholder"])


def _usage_cases() -> dict[str, list[str]]:
    cases = {"no arguments at all": [], "unknown command": ["trian"], "unknown group command": ["gallery", "ad"]}
    for name, params in {**SPECS, **fuzz.group_command_specs()}.items():
        required = []
        for param in params:
            if param.is_argument and param.required:
                required += _placeholder(param)
            elif param.required:
                required += [param.flags[0], *_placeholder(param)]
        command = name.split()  # "gallery add": a group and its command
        cases[f"{name}: unknown flag"] = [*command, *required, "--bogus"]
        if required:
            cases[f"{name}: missing argument"] = [*command, *required[:-1]] if required[-1].startswith("-") else command
            cases[f"{name}: missing option value"] = [*command, *required[:-1]] if required[-2:-1] and required[-2].startswith("-") else [*command, *required, "--out"]
        typed = next((param for param in params if param.kind in ("int", "float") and not param.is_argument), None)
        if typed is not None:
            cases[f"{name}: value of the wrong type"] = [*command, *required, typed.flags[0], "abc"]
    return cases


USAGE_CASES = _usage_cases()


@pytest.fixture(scope="module")
def usage_results(tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    return _run_all(USAGE_CASES, tmp_path_factory.mktemp("usage"))


def test_the_table_covers_every_command():
    commands = {"train", "demo", "evaluate", "sweep", "compare", "embed", "index", "merge-index", "search", "export", "serve"}
    assert commands <= set(SPECS)
    for name in SPECS:
        assert f"{name}: unknown flag" in USAGE_CASES
    assert "train: value of the wrong type" in USAGE_CASES and "evaluate: missing argument" in USAGE_CASES


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(USAGE_CASES))
def test_usage_errors_end_in_one_line_and_exit_2(usage_results, case):
    result = usage_results[case]
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, (case, result.returncode, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("siamkit: error:")]
    assert len(errors) == 1, result.stderr
    assert result.stderr.rstrip().splitlines()[-1] == errors[0], "the error line comes last"


@pytest.mark.slow
def test_the_issues_four_usage_errors_read_as_a_person_expects(usage_results, tmp_path):
    results = _run_all({
        "bare": [],
        "bogus": ["train", "DATA", "--out", "RUN", "--bogus"],
        "no out": ["evaluate", "MODEL", "DATA"],
        "size": ["train", "DATA", "--out", "RUN", "--image-size", "abc"],
    }, tmp_path)
    assert "Usage: siamkit" in results["bare"].stderr and "train" in results["bare"].stderr
    assert results["bogus"].stderr.splitlines()[0].startswith("Usage: siamkit train")
    assert "--bogus" in results["bogus"].stderr.splitlines()[-1]
    assert "--out" in results["no out"].stderr.splitlines()[-1]
    assert "--image-size" in results["size"].stderr.splitlines()[-1]
    assert not (tmp_path / "RUN").exists()
    for result in results.values():
        assert result.returncode == 2 and "Traceback" not in result.stderr


@pytest.mark.slow
def test_help_still_exits_0(tmp_path):
    results = _run_all({"top": ["--help"], "train": ["train", "--help"]}, tmp_path)
    for result in results.values():
        assert result.returncode == 0, result.stderr
        assert "Usage:" in result.stdout


# --- outputs that cannot be written -------------------------------------------------------------


def _writers(model: str, data: str, image: str) -> dict[str, tuple[list[str], str]]:
    """Each command that writes, as (arguments before the output path, the output option)."""
    return {
        "train": (["train", data], "--out"),
        "demo": (["demo"], "--out"),
        "evaluate": (["evaluate", model, data], "--out"),
        "sweep": (["sweep", data, "--vary", "lr=1e-4,3e-4"], "--out"),
        "embed": (["embed", model, data], "--out"),
        "index": (["index", model, data], "--out"),
        "merge-index": (["merge-index", image], "--out"),
        "search": (["search", image, image], "--grid"),
        "export": (["export", model], "--onnx"),
    }


@pytest.mark.slow
def test_outputs_that_cannot_be_written_are_refused_in_one_line(tmp_path):
    from tests.conftest import make_identity_images

    data = make_identity_images(tmp_path / "data", identities=3, per_identity=2)
    image = str(next(data.rglob("*.png")))
    a_file = tmp_path / "a-file.txt"
    a_file.write_text("x")
    folders = {"train", "demo", "evaluate", "sweep"}
    targets = {
        "special file system": "/proc/siamkit-test/out",
        "read-only file system": "/sys/siamkit-test-out",
        "parent is a file": str(a_file / "out"),
        "device": "/dev/full",
    }
    cases = {}
    for command, (before, option) in _writers("MODEL", str(data), image).items():
        wrong_kind = str(a_file) if command in folders else str(tmp_path)  # a file for a folder, or the reverse
        for what, target in {**targets, "wrong kind": wrong_kind}.items():
            cases[f"{command} / {what}"] = [*before, option, target]
    before = {path: path.stat().st_mtime_ns for path in tmp_path.rglob("*")}
    results = _run_all(cases, tmp_path)
    for key, result in results.items():
        assert "Traceback" not in result.stderr, (key, result.stderr)
        assert result.returncode == 2, (key, result.returncode, result.stderr)
        lines = [line for line in result.stderr.splitlines() if line.startswith("siamkit: error:")]
        assert len(lines) == 1, (key, result.stderr)
        assert cases[key][-1] in lines[0], (key, lines[0])
    assert {path: path.stat().st_mtime_ns for path in tmp_path.rglob("*")} == before, "something was written"
    assert Path("/dev/full").is_char_device(), "a write replaced /dev/full"


@pytest.fixture
def full_disk(tmp_path):
    """A 1 MB tmpfs, filled: every later write fails with ENOSPC (needs root and mount; skipped elsewhere)."""
    mount_point = tmp_path / "full"
    mount_point.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)], capture_output=True).returncode:
        pytest.skip("mounting a small tmpfs needs root and mount permission")
    try:
        subprocess.run(["dd", "if=/dev/zero", f"of={mount_point / 'filler'}", "bs=64k"], capture_output=True)
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def test_a_full_disk_is_one_line_and_leaves_no_temporary_file(full_disk):
    from siamkit.errors import SiamkitError
    from siamkit.io.atomic import write_bytes_atomic

    with pytest.raises(SiamkitError, match=r"cannot write .*index\.idx: No space left on device"):
        write_bytes_atomic(full_disk / "sub" / "index.idx", b"x" * 200_000)
    with pytest.raises(OSError):  # still an OSError to code that catches those
        write_bytes_atomic(full_disk / "index.idx", b"x" * 200_000)
    assert sorted(path.name for path in full_disk.rglob("*") if path.is_file()) == ["filler"]


def test_atomic_writes_never_replace_a_device():
    from siamkit.errors import SiamkitError
    from siamkit.io.atomic import write_text_atomic

    with pytest.raises(SiamkitError, match="not a regular file"):
        write_text_atomic("/dev/full", "x")
    assert Path("/dev/full").is_char_device()


# --- a taste of the fuzzer ------------------------------------------------------------------------


@pytest.mark.slow
def test_fuzzed_argument_lists_never_end_in_a_traceback(tmp_path):
    from hypothesis import HealthCheck, Phase, given, settings

    pool = fuzz.make_pool(tmp_path)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    seen = []

    @settings(max_examples=25, deadline=None, database=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(fuzz.argument_lists(SPECS, pool))
    def case(args):
        outcome = fuzz.run_case(args, workdir, case_seconds=20)
        seen.append(outcome)
        assert outcome.finding is None, f"siamkit {' '.join(args)}: {outcome.finding}\n{outcome.stderr[-3000:]}"

    case()
    assert len(seen) >= 25


def test_quiet_and_verbose_are_taken_wherever_they_stand():
    from siamkit.cli.main import take_loudness

    assert take_loudness(["train", "data", "-q", "--out", "run"]) == ({"quiet": True, "verbose": False}, ["train", "data", "--out", "run"])
    assert take_loudness(["-v", "compare", "m", "a", "b"]) == ({"quiet": False, "verbose": True}, ["compare", "m", "a", "b"])
    assert take_loudness(["search", "idx", "--", "-q"]) == ({"quiet": False, "verbose": False}, ["search", "idx", "--", "-q"])
