"""The ``siamkit`` command as a user runs it: a real process, real exit codes, stderr lines."""

import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.conftest import make_identity_images, tiny_train_settings

pytestmark = pytest.mark.slow  # every test runs the siamkit command


def siamkit(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "siamkit.cli.main", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600)


def tiny_flags(**extra):
    settings = tiny_train_settings(**extra)
    flags = []
    for key, value in settings.items():
        flags += ["--set", f"{key}={value}"]
    return flags


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("siamkit: error:")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_a_messy_dataset_trains_with_a_warning_naming_the_skipped_files(tmp_path):
    data = make_identity_images(tmp_path / "data", identities=8, per_identity=4)
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, "JPEG")
    (data / "id_00" / "corrupt.jpg").write_bytes(buffer.getvalue()[:300])
    (data / "id_01" / "text.png").write_text("I am not a picture")
    (data / "id_02" / "zero.jpg").write_bytes(b"")
    (data / "empty").mkdir()
    (data / "solo").mkdir()
    Image.new("RGB", (32, 32), "red").save(data / "solo" / "only.png")
    result = siamkit("train", data, "--out", tmp_path / "run", *tiny_flags())
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    warning = [line for line in result.stderr.splitlines() if "skipped 3 unreadable" in line]
    assert warning and all(name in warning[0] for name in ("corrupt.jpg", "text.png", "zero.jpg"))
    assert "single image" in result.stderr
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()


def test_one_identity_stops_with_one_line_and_exit_2(tmp_path):
    data = make_identity_images(tmp_path / "data", identities=1, per_identity=5)
    result = siamkit("train", data, "--out", tmp_path / "run", *tiny_flags())
    assert_one_line_error(result, "split 'train' has")


@pytest.mark.parametrize(
    "flags, fragment",
    [
        (["--backbone", "resnet_fifty"], "--backbone 'resnet_fifty'"),
        (["--loss", "hinge"], "--loss 'hinge'"),
        (["--config", "missing.yaml"], "missing.yaml"),
        (["--set", "marign=1"], "unknown key 'marign'"),
        (["--set", "lerning_rate=0.001"], "unknown key 'lerning_rate' (did you mean 'lr'?)"),
        (["--split", "1,2"], "--split"),
        (["--pretrained", "nowhere.pth"], "nowhere.pth"),
    ],
)
def test_bad_options_are_one_line_errors(tmp_path, flags, fragment):
    data = make_identity_images(tmp_path / "data", identities=6, per_identity=3)
    result = siamkit("train", data, "--out", tmp_path / "run", *flags)
    assert_one_line_error(result, fragment)


def test_missing_dataset(tmp_path):
    assert_one_line_error(siamkit("train", tmp_path / "nope", "--out", tmp_path / "run"), "dataset not found")


def test_a_missing_dataset_is_said_before_torch_loads_and_no_run_folder_is_left(tmp_path):
    script = (
        "import sys\n"
        "from siamkit.cli.main import main\n"
        f"sys.argv = ['siamkit', 'train', {str(tmp_path / 'nodata')!r}, '--out', {str(tmp_path / 'run')!r}]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exit:\n"
        "    print(exit.code, 'torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["2", "False"], done.stdout + done.stderr
    assert "nodata: dataset not found" in done.stderr and not (tmp_path / "run").exists()


@pytest.mark.parametrize("case", ["unknown backbone", "too few identities"])
def test_a_failed_start_leaves_no_empty_run_folder(tmp_path, case):
    data = make_identity_images(tmp_path / "data", identities=8 if case == "unknown backbone" else 1, per_identity=4)
    flags = ["--set", "backbone=no_such_net"] if case == "unknown backbone" else []
    result = siamkit("train", data, "--out", tmp_path / "run", *tiny_flags(), *flags)
    assert_one_line_error(result)
    assert not (tmp_path / "run").exists()


def test_redirected_training_logs_one_line_per_epoch_and_quiet_works_after_the_command(tmp_path):
    data = make_identity_images(tmp_path / "data", identities=8, per_identity=4)
    plain = siamkit("train", data, "--out", tmp_path / "plain", *tiny_flags(max_epochs=2))
    assert plain.returncode == 0, plain.stderr
    assert "\r" not in plain.stderr and "\x1b[" not in plain.stderr  # no bar redrawn into a file
    epochs = [line for line in plain.stderr.splitlines() if line.startswith("siamkit: epoch ")]
    assert [line.split(":")[1].strip() for line in epochs] == ["epoch 1/2", "epoch 2/2"]  # counted as history.csv counts
    assert "val_roc_auc" in epochs[0]

    quiet = siamkit("train", data, "--out", tmp_path / "quiet", *tiny_flags(), "-q")
    assert quiet.returncode == 0, quiet.stderr
    assert "siamkit: epoch" not in quiet.stderr and "backbone" not in quiet.stderr  # no plan, no progress
    assert "model folder:" in quiet.stdout  # the result itself still prints

    image = next(data.glob("*/*.png"))
    verbose = siamkit("compare", tmp_path / "quiet" / "model", image, image, "-v")
    assert verbose.returncode == 0 and "backend, loaded in" in verbose.stderr and verbose.stdout.startswith("same")
