"""A training run killed without warning (SIGKILL, the OOM killer, a pre-empted machine) resumes.

``--resume`` continues from ``checkpoints/last.ckpt``; everything else in the run folder is
written by a temporary name and a rename, so the kill can never leave a torn file behind.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import time

import pytest
import torch

from siamkit.training.checkpoint_io import AtomicCheckpointIO
from tests.conftest import make_identity_images
from tests.hostile.conftest import siamkit_command, tiny_flags

EPOCHS = 4


def _wait_for(path, process, seconds: float = 300.0) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if process.poll() is not None:
            pytest.fail(f"training ended (exit {process.returncode}) before writing {path}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"no {path} after {seconds:.0f} s")
        time.sleep(0.05)


def _epochs(history) -> list[int]:
    with open(history, newline="") as handle:
        return [int(row["epoch"]) for row in csv.DictReader(handle)]


@pytest.mark.slow
def test_sigkill_after_the_first_checkpoint_then_resume(tmp_path):
    from siamkit.inference.siamese_model import SiameseModel

    data = make_identity_images(tmp_path / "data", identities=8, per_identity=4)
    run = tmp_path / "run"
    command = siamkit_command("train", data, "--out", run, *tiny_flags(max_epochs=EPOCHS, patience=EPOCHS + 1))
    last = run / "checkpoints" / "last.ckpt"
    with open(tmp_path / "first.log", "w") as log:  # a file, not a pipe: a full pipe would stall the run
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        _wait_for(last, process)
        assert process.poll() is None, "the run finished before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL

    # What the kill left: a whole checkpoint of an epoch before the last, no model folder yet.
    killed_at = torch.load(last, map_location="cpu", weights_only=True)["epoch"]
    assert 0 <= killed_at < EPOCHS - 1
    assert not (run / "model").exists()
    split_before = (run / "split.json").read_bytes()

    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert "Traceback" not in resumed.stderr
    assert f"resume: continuing from {last}" in resumed.stderr
    assert "resume: reusing the split" in resumed.stderr
    assert (run / "split.json").read_bytes() == split_before

    assert _epochs(run / "history.csv") == list(range(1, EPOCHS + 1))  # one row per epoch, none twice
    model = SiameseModel.load(run / "model", backend="torch")
    assert model.config.training["epochs"] == EPOCHS
    assert model.embed(data / "id_00" / "img_0.png").shape == (1, model.embedding_dim)


@pytest.mark.slow
def test_resume_without_a_checkpoint_is_one_line(tmp_path):
    from tests.hostile.conftest import assert_one_line_error, run

    data = make_identity_images(tmp_path / "data", identities=4, per_identity=2)
    result = run(siamkit_command("train", data, "--out", tmp_path / "run", "--resume", *tiny_flags()))
    assert_one_line_error(result, "--resume: no checkpoint at")


# --- checkpoints are replaced atomically ----------------------------------------------------------


def test_a_failed_checkpoint_write_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    io = AtomicCheckpointIO()
    path = tmp_path / "checkpoints" / "last.ckpt"
    io.save_checkpoint({"epoch": 1, "state_dict": {"w": torch.ones(3)}}, path)

    def torn_save(obj, target, *args, **kwargs):
        with open(target, "wb") as handle:
            handle.write(b"PK\x03\x04 half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", torn_save)
    with pytest.raises(OSError, match="No space left"):
        io.save_checkpoint({"epoch": 2, "state_dict": {"w": torch.zeros(3)}}, path)
    monkeypatch.undo()

    assert torch.load(path, weights_only=True)["epoch"] == 1
    assert os.listdir(path.parent) == ["last.ckpt"]  # the temporary file is gone too


def test_checkpoint_io_round_trip(tmp_path):
    io = AtomicCheckpointIO()
    path = tmp_path / "best.ckpt"
    io.save_checkpoint({"epoch": 3, "state_dict": {"w": torch.arange(4.0)}}, path)
    io.save_checkpoint({"epoch": 4, "state_dict": {"w": torch.arange(5.0)}}, f"file://{path}")
    loaded = io.load_checkpoint(path)
    assert loaded["epoch"] == 4 and loaded["state_dict"]["w"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_training_saves_checkpoints_through_atomic_io(tmp_path):
    from siamkit.training.config import TrainConfig
    from siamkit.pipelines.lightning_fit import _trainer

    trainer, _ = _trainer(TrainConfig(max_epochs=1), tmp_path, "cpu", tmp_path / "history.csv")
    assert isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO)
