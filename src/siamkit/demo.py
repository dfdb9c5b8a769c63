"""``siamkit demo``: the whole workflow offline on scikit-learn's bundled digits.

scikit-learn ships 1,797 8x8 hand-written digits inside the package, so the demo needs no
download. Each digit class is an identity; the split keeps whole digits unseen (open-set), so
the report shows how well the model tells apart digits it never trained on.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image

from siamkit.training.config import load_config
from siamkit.pipelines.train_and_evaluate import train_and_evaluate
from siamkit.pipelines.training_run import TrainResult

log = logging.getLogger("siamkit")

DEMO_SETTINGS = {
    "image_size": 64,
    "trainable_stages": 3,
    "max_epochs": 4,
    "batch_size": 32,
    "split": "0.5,0.2,0.3",
    "horizontal_flip": False,
    "color_jitter": 0.0,
    "ways": "2,3",
    "episodes": 200,
}


def write_digits(folder: Path) -> Path:
    """Save sklearn's digits as PNGs, one folder per digit (a dataset in siamkit's layout)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    for index, (pixels, label) in enumerate(zip(digits.images, digits.target)):
        target = folder / f"digit_{label}" / f"{index:04d}.png"
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        image = (255 - pixels / 16.0 * 255).round().astype(np.uint8)  # dark ink on white paper
        Image.fromarray(image, mode="L").resize((32, 32), Image.Resampling.BICUBIC).save(target)
    return folder


def run_demo(out: str | Path = "runs/demo", **overrides) -> TrainResult:
    out = Path(out)
    data = write_digits(out / "data")
    log.info("demo data: %s (10 digits as identities, 1,797 images)", data)
    config = load_config(None, {**DEMO_SETTINGS, **overrides})
    run = out / "run"
    if (run / "checkpoints" / "last.ckpt").exists():
        import shutil

        log.info("demo: replacing the earlier demo run in %s", run)
        shutil.rmtree(run)
    return train_and_evaluate(data, run, config)
