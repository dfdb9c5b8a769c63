"""The ``siamkit`` command run as a user runs it, and one training run shared by the suites.

Starting the CLI costs several seconds of imports, so the suites batch: one training run on a
dataset that holds every bad file at once (its model folder is then tampered with), and the
error cases started side by side.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import make_identity_images, tiny_train_settings
from tests.hostile import hostile_files as files

PARALLEL_CLI_RUNS = 3  # on 2 shared cores: enough to overlap one run's imports with another's work


def siamkit_command(*args) -> list[str]:
    return [sys.executable, "-m", "siamkit.cli.main", *map(str, args)]


def run(command: list[str], prefix: tuple[str, ...] = (), timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=timeout)


def run_all(commands: dict[str, list[str]]) -> dict[str, subprocess.CompletedProcess]:
    """Run several CLI commands side by side; results by key."""
    with ThreadPoolExecutor(PARALLEL_CLI_RUNS) as pool:
        futures = {key: pool.submit(run, command) for key, command in commands.items()}
        return {key: future.result() for key, future in futures.items()}


def tiny_flags(*, leave_out: tuple[str, ...] = (), **extra) -> list[str]:
    """``--set`` flags for a seconds-long CPU run (``--set`` beats both --config and named flags)."""
    flags = []
    for key, value in tiny_train_settings(**extra).items():
        if key not in leave_out:
            flags += ["--set", f"{key}={value}"]
    return flags


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("siamkit: error:")]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def permissions_enforced_prefix() -> tuple[str, ...] | None:
    """A command prefix under which ``chmod 000`` stops this process, or None if there is none.

    Root ignores file permissions (CAP_DAC_OVERRIDE); ``setpriv`` can start a child without that
    capability, so the unreadable-file case is tested in containers that run tests as root too.
    """
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    prefix = (setpriv, "--inh-caps=-dac_override,-dac_read_search", "--bounding-set=-dac_override,-dac_read_search")
    with tempfile.NamedTemporaryFile() as locked:
        os.chmod(locked.name, 0)
        probe = subprocess.run([*prefix, sys.executable, "-c", "import os, sys; sys.exit(os.access(sys.argv[1], os.R_OK))", locked.name])
    return prefix if probe.returncode == 0 else None


# --- one training run on every bad file at once ------------------------------------------------

# file (relative to the dataset) -> builder, and the reason its skip must give
BAD_FILES = {
    "id_00/cut.jpg": (files.truncated_jpeg, "image file is truncated"),
    "id_00/cut.png": (files.truncated_png, "image file is truncated"),
    "id_01/tables.jpg": (files.corrupt_jpeg_tables, "broken data stream"),
    "id_01/frame.jpg": (files.corrupt_jpeg_header, "not a recognised image format"),
    "id_02/zlib.png": (files.corrupt_png, "broken data stream"),
    "id_02/zero.jpg": (files.zero_bytes, "not a recognised image format"),
    "id_03/list.jpg": (files.text_file, "not a recognised image format"),
    "id_03/bomb.png": (files.bomb_png, "decompression bomb"),
    "id_04/liar.png": (files.bomb_png_header_only, "decompression bomb"),
    "id_04/pages.tif": (files.tiff_with_sizeless_second_page, "Missing dimensions"),
    "id_05/" + files.not_utf8_name(b"men\xfc", ".jpg"): (files.text_file, "not a recognised image format"),
}
SPECIAL_BAD_FILES = {  # not plain bytes: made in make_messy_dataset
    "id_05/pipe.jpg": "not a regular file",
    "id_06/a.jpg": "Too many levels of symbolic links",
    "id_06/b.jpg": "Too many levels of symbolic links",
    "id_06/link.png": "file not found",
    "id_07/secret.png": "permission denied",
}
# odd but valid: must be kept and trained on
ODD_GOOD_FILES = {
    "id_00/print.jpg": files.cmyk_jpeg,
    "id_01/scan.png": files.sixteen_bit_png,
    "id_02/dot.png": files.one_pixel_png,
    "id_03/right.jpg": lambda: files.exif_rotated_jpeg(6),
    "id_04/" + files.not_utf8_name(b"caf\xe9"): files.one_pixel_png,
    "id_05/smear.jpg": files.corrupt_jpeg_scan,
}


def make_messy_dataset(root: Path, unreadable: bool) -> Path:
    make_identity_images(root, identities=8, per_identity=4)
    for name, (build, _) in BAD_FILES.items():
        (root / name).write_bytes(build())
    for name, build in ODD_GOOD_FILES.items():
        (root / name).write_bytes(build())
    os.mkfifo(root / "id_05" / "pipe.jpg")
    os.symlink(root / "id_06" / "b.jpg", root / "id_06" / "a.jpg")
    os.symlink(root / "id_06" / "a.jpg", root / "id_06" / "b.jpg")
    os.symlink(root / "id_06" / "gone.png", root / "id_06" / "link.png")
    os.symlink(root, root / "id_07" / "back_to_root")  # a folder loop
    if unreadable:
        (root / "id_07" / "secret.png").write_bytes(files.one_pixel_png())
        (root / "id_07" / "secret.png").chmod(0)
    (root / "empty").mkdir()
    (root / "solo").mkdir()
    (root / "solo" / "only.png").write_bytes(files.one_pixel_png())
    return root


@dataclass
class MessyRun:
    data: Path
    run: Path
    result: subprocess.CompletedProcess
    unreadable_tested: bool

    @property
    def model(self) -> Path:
        return self.run / "model"


@pytest.fixture(scope="session")
def messy_run(tmp_path_factory) -> MessyRun:
    """``siamkit train`` (with evaluation) on a dataset holding every hostile file at once."""
    base = tmp_path_factory.mktemp("messy")
    prefix = permissions_enforced_prefix()
    data = make_messy_dataset(base / "data", unreadable=prefix is not None)
    out = base / "run"
    command = siamkit_command("train", data, "--out", out, *tiny_flags(evaluate=True))
    return MessyRun(data, out, run(command, prefix or ()), prefix is not None)
