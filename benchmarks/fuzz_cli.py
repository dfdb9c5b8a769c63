"""Fuzz the ``siamkit`` command line with argument lists drawn from each command's own options.

Every way a person can misuse the command must end in one of three ways: exit 0, exit 1 for a
failure siamkit reported, or exit 2 for a user error, each without a Python traceback. The
options are read from the command functions themselves (their Typer parameters and type hints),
so a new option is fuzzed the day it is added.

Each case is the real console script in a subprocess with a time limit: valid and invalid values
of every type, missing and repeated flags, unknown flags and commands, and paths that exist,
do not, are folders where files are expected, devices (``/dev/full``, ``/dev/null``), or lie on
special file systems (``/proc``, ``/sys``). A case that outlives ``--case-seconds`` (a drawn list
that was valid and started real work, e.g. training) is stopped and counted, not failed.

    .venv/bin/python benchmarks/fuzz_cli.py                      # 60 s
    .venv/bin/python benchmarks/fuzz_cli.py --seconds 600 --out fuzz-cli-findings

Findings (argument list, exit code, stderr) are written to ``--out`` and the script exits 1.
``tests/cli/test_usage_errors.py`` runs the same strategy for a few dozen cases.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import typing
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

ACCEPTED_EXIT_CODES = (0, 1, 2)


# --- what each command accepts, read from its function ---------------------------------------


@dataclass(frozen=True)
class Param:
    """One argument or option of a command."""

    name: str
    flags: tuple[str, ...]  # empty for a positional argument
    kind: str  # int | float | bool | path | text
    required: bool
    multiple: bool
    is_flag: bool  # a bool option that takes no value

    @property
    def is_argument(self) -> bool:
        return not self.flags


def _unwrap(hint) -> tuple[object, bool]:
    """(the element type, whether the parameter takes a list) of ``Optional[List[X]]`` and the like."""
    multiple = False
    while True:
        origin = typing.get_origin(hint)
        if origin is typing.Union:
            hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
        elif origin in (list, tuple, typing.List):
            multiple, hint = True, typing.get_args(hint)[0]
        else:
            return hint, multiple


def _kind(hint) -> str:
    if hint is bool:
        return "bool"
    if hint in (int, float):
        return hint.__name__
    if isinstance(hint, type) and issubclass(hint, os.PathLike):
        return "path"
    return "text"


def command_params(callback) -> list[Param]:
    from typer.models import ArgumentInfo, OptionInfo

    hints = typing.get_type_hints(callback)
    params = []
    for name, parameter in inspect.signature(callback).parameters.items():
        info = parameter.default
        hint, multiple = _unwrap(hints[name])
        kind = _kind(hint)
        required = info.default is ... or info.default is Ellipsis
        if isinstance(info, ArgumentInfo):
            params.append(Param(name, (), kind, required, multiple, False))
            continue
        assert isinstance(info, OptionInfo), (callback.__name__, name)
        declarations = info.param_decls or (f"--{name.replace('_', '-')}",)
        flags = []
        for declaration in declarations:
            flags += [flag for flag in declaration.split("/") if flag.startswith("-")]
        if kind == "bool" and not info.param_decls:
            flags.append(f"--no-{name.replace('_', '-')}")
        params.append(Param(name, tuple(flags), kind, required, multiple, kind == "bool"))
    return params


def command_specs() -> dict[str, list[Param]]:
    """Every subcommand of ``siamkit`` and its parameters, in declaration order."""
    from siamkit.cli.main import app

    return {info.name: command_params(info.callback) for info in app.registered_commands}


def group_command_specs() -> dict[str, list[Param]]:
    """The commands of ``siamkit``'s command groups (``gallery add``, ``keys add`` ...), named with
    their group, and their parameters."""
    from siamkit.cli.main import app

    return {
        f"{group.name} {info.name}": command_params(info.callback)
        for group in app.registered_groups
        for info in group.typer_instance.registered_commands
    }


# --- the argument pool --------------------------------------------------------------------------


@dataclass(frozen=True)
class Pool:
    """Paths a case may name: inputs that exist, inputs that do not, and outputs."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


SPECIAL_PATHS = ("/dev/null", "/dev/full", "/proc/siamkit-fuzz", "/sys/siamkit-fuzz", "/", "", "-", "--")


def make_pool(root: Path, model: Path | None = None) -> Pool:
    """Files and folders under ``root`` for the cases to name (a tiny dataset, a CSV, an image...)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    data = root / "data"
    for identity in range(3):
        folder = data / f"id_{identity}"
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(2):
            Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(folder / f"{index}.png")
    image = data / "id_0" / "0.png"
    csv = root / "list.csv"
    csv.write_text("path,label\n" + "".join(f"{p},{p.parent.name}\n" for p in sorted(data.rglob("*.png"))))
    text = root / "notes.txt"
    text.write_text("not an image\n")
    broken_yaml = root / "broken.yaml"
    broken_yaml.write_text("lr: [unclosed\n")
    fake_model = root / "fake-model"
    fake_model.mkdir(exist_ok=True)
    (fake_model / "config.json").write_text("{}")
    inputs = [str(data), str(image), str(csv), str(text), str(broken_yaml), str(fake_model), str(root / "missing"), str(root / "Ünïcode folder")]
    if model is not None:
        inputs.append(str(model))
    outputs = [str(root / "out" / "new"), str(root / "out" / "new.npy"), str(root / "out" / "new.idx"), str(root / "out" / "x.onnx"), str(data), str(image)]
    return Pool(tuple(inputs), tuple(outputs))


# --- drawing argument lists ---------------------------------------------------------------------

BAD_NUMBERS = ("abc", "", "1.5.2", "0x10", "--", "1e", "nan", "inf", "-inf", "99999999999999999999999")
TEXT_VALUES = ("auto", "none", "cpu", "cuda", "exact", "hnsw", "ivf", "test", "all", "1/2", "0/0", "3/2", "a/b",
               "0.5,0.25,0.25", "1,2", "5,20", "margin=0.5", "lr=1e-4", "fold=1/2", "bogus=1", "x", "", "é", "a" * 300, "=", "-x")


@st.composite
def _value(draw, param: Param, pool: Pool) -> str:
    if param.kind == "int":
        return draw(st.one_of(st.integers(-3, 5).map(str), st.sampled_from(("0", "-1", "2147483648") + BAD_NUMBERS)))
    if param.kind == "float":
        return draw(st.one_of(st.floats(-2, 2, allow_nan=False).map(repr), st.sampled_from(("0", "1e-4", "-0.0") + BAD_NUMBERS)))
    if param.kind == "path":
        output = param.name in ("out", "onnx", "grid")
        return draw(st.sampled_from((pool.outputs if output else pool.inputs) + SPECIAL_PATHS))
    return draw(st.sampled_from(TEXT_VALUES + pool.inputs[:1]))


@st.composite
def argument_lists(draw, specs: dict[str, list[Param]], pool: Pool) -> list[str]:
    """A ``siamkit`` argument list: mostly plausible, with one or more things wrong in it."""
    shape = draw(st.sampled_from(("command",) * 8 + ("empty", "bogus-command", "global-flag")))
    if shape == "empty":
        return []
    if shape == "bogus-command":
        return [draw(st.sampled_from(("trian", "bogus", "-x", "--bogus", "--help", "TRAIN")))]
    prefix = [draw(st.sampled_from(("-v", "--verbose", "--help")))] if shape == "global-flag" else []
    name = draw(st.sampled_from(sorted(specs)))
    args = [*prefix, name]
    options = []
    for param in specs[name]:
        if param.is_argument:
            if draw(st.integers(0, 9)) == 0:  # left out
                continue
            count = draw(st.integers(1, 3)) if param.multiple else 1
            args += [draw(_value(param, pool)) for _ in range(count)]
            continue
        wanted = 0.9 if param.required else 0.25
        if draw(st.floats(0, 1)) >= wanted:
            continue
        repeat = 2 if draw(st.integers(0, 9)) == 0 else 1
        for _ in range(repeat):
            flag = draw(st.sampled_from(param.flags))
            if param.is_flag:
                options.append([flag])
            elif draw(st.integers(0, 19)) == 0:
                options.append([flag])  # the value is missing
            else:
                options.append([flag, draw(_value(param, pool))])
    extras = draw(st.lists(st.sampled_from(("--bogus", "--out", "-k", "extra-arg", "--help", "-q", "--set", "--set=lr")), max_size=2))
    options += [[extra] for extra in extras]
    order = draw(st.permutations(range(len(options)))) if options else []
    for position in order:
        args += options[position]
    return args


# --- running one case ----------------------------------------------------------------------------


@dataclass
class Outcome:
    args: list[str]
    code: int | None  # None: stopped at the time limit
    stderr: str
    seconds: float

    @property
    def finding(self) -> str | None:
        if self.code is None:
            return None
        if "Traceback (most recent call last)" in self.stderr:
            return "traceback"
        if self.code not in ACCEPTED_EXIT_CODES:
            return f"exit code {self.code}"
        if self.code == 2 and not any(line.startswith("siamkit: error:") for line in self.stderr.splitlines()):
            return "exit 2 without a 'siamkit: error:' line"
        return None


def siamkit_script() -> str:
    script = Path(sys.executable).with_name("siamkit")
    return str(script) if script.exists() else "siamkit"


def run_case(args: list[str], workdir: Path, case_seconds: float) -> Outcome:
    """The console script on ``args`` in ``workdir``, stopped (with its children) after ``case_seconds``."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    started = time.monotonic()
    process = subprocess.Popen([siamkit_script(), *args], cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, errors="replace", env=env, start_new_session=True)
    try:
        _, stderr = process.communicate(timeout=case_seconds)
        code = process.returncode
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        _, stderr = process.communicate()
        code = None
    return Outcome(args, code, stderr, time.monotonic() - started)


# --- the long run -----------------------------------------------------------------------------------


def fuzz(seconds: float, case_seconds: float, out: Path | None, model: Path | None) -> int:
    specs = command_specs()
    outcomes: list[Outcome] = []
    deadline = time.monotonic() + seconds
    with tempfile.TemporaryDirectory(prefix="siamkit-fuzz-cli-") as scratch:
        root = Path(scratch)
        pool = make_pool(root, model)
        workdir = root / "cwd"
        workdir.mkdir()

        @settings(max_examples=10**9, deadline=None, database=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck))
        @given(argument_lists(specs, pool))
        def one_case(args):
            if time.monotonic() > deadline:
                raise _TimeUp
            outcome = run_case(args, workdir, case_seconds)
            outcomes.append(outcome)
            if len(outcomes) % 50 == 0:
                print(f"{len(outcomes)} cases, {sum(o.finding is not None for o in outcomes)} findings", file=sys.stderr, flush=True)

        try:
            one_case()
        except _TimeUp:
            pass
    findings = [outcome for outcome in outcomes if outcome.finding]
    codes = Counter("timeout" if outcome.code is None else outcome.code for outcome in outcomes)
    commands = Counter(next((arg for arg in outcome.args if arg in specs), "(none)") for outcome in outcomes)
    print(json.dumps({"cases": len(outcomes), "seconds": round(seconds), "findings": len(findings),
                      "exit_codes": {str(k): v for k, v in sorted(codes.items(), key=str)}, "commands": dict(commands)}, indent=1))
    for outcome in outcomes:
        if outcome.code is None:
            print(f"stopped after {case_seconds:.0f} s (valid work running): siamkit {' '.join(outcome.args)}", file=sys.stderr)
    if findings and out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for number, outcome in enumerate(findings):
            (out / f"finding-{number:03d}.json").write_text(json.dumps(
                {"finding": outcome.finding, "args": outcome.args, "code": outcome.code, "stderr": outcome.stderr}, indent=1))
    for outcome in findings[:10]:
        print(f"FINDING ({outcome.finding}): siamkit {' '.join(outcome.args)}\n{outcome.stderr[-2000:]}", file=sys.stderr)
    return 1 if findings else 0


class _TimeUp(Exception):
    pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60, help="wall-clock budget of the run")
    parser.add_argument("--case-seconds", type=float, default=30, help="time limit of one command")
    parser.add_argument("--out", type=Path, help="folder for the findings (argument list, exit code, stderr)")
    parser.add_argument("--model", type=Path, help="a trained model folder, so commands get past loading it")
    options = parser.parse_args()
    sys.exit(fuzz(options.seconds, options.case_seconds, options.out, options.model))


if __name__ == "__main__":
    main()
