"""``siamkit train`` under ``torchrun`` on CPU (gloo): two processes, one set of files."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import make_identity_images

SETTINGS = {
    "backbone": "resnet10t", "pretrained": "none", "image_size": 32, "embedding_dim": 16, "hidden_dim": 32,
    "batch_size": 8, "m_per_class": 2, "max_epochs": 2, "split": "0.5,0.25,0.25", "workers": 0,
}


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_process_training_mines_across_processes_and_rank_zero_writes(tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists() and shutil.which("torchrun") is None:
        pytest.skip("torchrun is not installed next to this Python")
    data = make_identity_images(tmp_path / "data", identities=8, per_identity=4)
    flags = [item for key, value in SETTINGS.items() for item in ("--set", f"{key}={value}")]
    command = [str(torchrun if torchrun.exists() else "torchrun"), "--nproc_per_node=2", f"--master_port={free_port()}",
               "-m", "siamkit.cli.main", "--verbose", "train", str(data), "--out", str(tmp_path / "run"), "--no-evaluate", *flags]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    # batch 8 per process, gathered from both before mining
    assert "mining over 16 embeddings from 2 process(es)" in result.stderr
    assert result.stdout.count("model folder:") == 1
    run = tmp_path / "run"
    assert (run / "model" / "model.safetensors").is_file()
    assert sorted(p.name for p in (run / "model").iterdir()) == ["config.json", "model.safetensors"]
    assert len((run / "history.csv").read_text().strip().splitlines()) == 3
