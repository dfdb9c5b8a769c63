"""Start-up of ``siamkit compare`` and ``siamkit search``: wall time and peak memory per command.

Issue 16 item 7: on the onnxruntime backend these should answer in under 1 s and 300 MB (they took
3.3 s and 958 MB when loading torch and timm). A model folder of the default backbone
(EfficientNet-Lite0, offline ImageNet weights, an untrained head) with its ONNX export cached, a
gallery index of 12 images; each command runs ``--rounds`` times in a fresh process, interleaved,
and the median wall time and peak resident memory (the child's ru_maxrss) are printed side by side:

    .venv/bin/python benchmarks/startup.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

SIAMKIT = str(Path(sys.executable).with_name("siamkit"))
GOAL_SECONDS, GOAL_MB = 1.0, 300


def make_model(root: Path) -> Path:
    from siamkit.data.preprocessing import Preprocessing
    from siamkit.inference.siamese_model import SiameseModel
    from siamkit.models.backbone import backbone_data_config
    from siamkit.models.model_folder import ModelConfig, save_model_folder
    from siamkit.models.network import SiameseNetwork

    network = SiameseNetwork.create("tf_efficientnet_lite0", "auto", 128, 512).eval()
    preprocessing = Preprocessing.from_timm_config(backbone_data_config(network.backbone), 160)
    folder = save_model_folder(root / "model", ModelConfig("tf_efficientnet_lite0", preprocessing, 128, threshold=1.0), network.state_dict())
    SiameseModel.load(folder, backend="onnx")  # exports model.onnx once, as the first use of a folder does
    return folder


def make_images(root: Path, count: int = 12) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for index in range(count):
        path = root / "gallery" / f"id_{index % 4}" / f"{index}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (120, 100, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def run(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident MB of one fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed: {done.stderr.strip()[-500:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest child so far, in KB
    if peak <= before:  # an earlier child was larger: measure this one on its own
        done = subprocess.run(["/usr/bin/time", "-f", "%M", *command], capture_output=True, text=True)
        peak = int(done.stderr.strip().splitlines()[-1]) if os.path.exists("/usr/bin/time") else before
    return seconds, peak / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        model = make_model(root)
        images = make_images(root)
        index = root / "gallery.idx"
        subprocess.run([SIAMKIT, "index", str(model), str(root / "gallery"), "--out", str(index)], check=True, capture_output=True)
        commands = {
            "compare, onnxruntime": [SIAMKIT, "compare", str(model), str(images[0]), str(images[1]), "--backend", "onnx"],
            "compare, torch": [SIAMKIT, "compare", str(model), str(images[0]), str(images[1]), "--backend", "torch"],
            "search, onnxruntime": [SIAMKIT, "search", str(index), str(images[2]), "--model", str(model), "--backend", "onnx"],
            "siamkit --version": [SIAMKIT, "--version"],
        }
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, command in commands.items():
                results[name].append(run(command))
    print(f"{'command':<24} {'median s':>9} {'peak MB':>8}   (median of {args.rounds} fresh processes, load {os.getloadavg()[0]:.1f})")
    for name, rows in results.items():
        seconds = statistics.median(r[0] for r in rows)
        megabytes = statistics.median(r[1] for r in rows)
        verdict = ""
        if "onnxruntime" in name:
            verdict = "  goal met" if seconds < GOAL_SECONDS and megabytes < GOAL_MB else f"  goal ({GOAL_SECONDS:g} s, {GOAL_MB} MB) not met"
        print(f"{name:<24} {seconds:>9.2f} {megabytes:>8.0f}{verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
