"""Tiny generated datasets, so the suite needs neither ../shared nor a network, and one tiny
trained model that every test which only reads a model folder shares.

Each identity is a random blocky pattern; its images are noisy, shifted copies, which a small
network can learn to tell apart within a couple of epochs.

Marks: ``slow`` is for tests that start CLI subprocesses (each re-imports torch), torchrun, a
browser, or a fuzzer; ``pytest -m "not slow"`` is the quick local loop, CI runs everything.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# Tests that are not about the ONNX export use the quick exporter, CLI subprocesses included (they
# inherit the environment): dynamo takes about five times as long on the tiny networks. The export
# test that checks the default order (dynamo first) removes the variable.
os.environ.setdefault("SIAMKIT_ONNX_EXPORTERS", "torchscript")

TINY_BACKBONE = "resnet10t"  # small timm model, random init: fast enough for CPU tests

# Slow modules marked from here rather than with a ``pytestmark`` line of their own, because they
# were being reworked when the mark came in; the other slow tests carry the mark in their files.
SLOW_MODULES = {
    "tests/training/test_distributed.py": "torchrun",
    "tests/inference/test_model_commands.py": "a siamkit subprocess per command",
    "tests/inference/test_dataset_galleries.py": "a siamkit subprocess per command",
    "tests/service/test_serve_cli.py": "siamkit serve in a subprocess",
    "tests/service/test_page.py": "a headless browser",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.nodeid.split("::")[0] in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


def make_identity_images(folder: Path, identities: int = 6, per_identity: int = 4, size: int = 32, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for identity in range(identities):
        base = rng.integers(0, 256, size=(4, 4, 3)).astype(np.float64)
        pattern = np.kron(base, np.ones((size // 4, size // 4, 1)))
        target = folder / f"id_{identity:02d}"
        target.mkdir(parents=True, exist_ok=True)
        for index in range(per_identity):
            noisy = pattern + rng.normal(0, 12, pattern.shape)
            shifted = np.roll(noisy, shift=int(rng.integers(-2, 3)), axis=1)
            Image.fromarray(np.clip(shifted, 0, 255).astype(np.uint8)).save(target / f"img_{index}.png")
    return folder


@pytest.fixture
def tiny_dataset(tmp_path) -> Path:
    return make_identity_images(tmp_path / "data", identities=8, per_identity=4)


def tiny_train_settings(**extra) -> dict:
    settings = {
        "backbone": TINY_BACKBONE,
        "pretrained": "none",
        "image_size": 32,
        "embedding_dim": 16,
        "hidden_dim": 32,
        "batch_size": 8,
        "m_per_class": 2,
        "max_epochs": 1,
        "trainable_stages": -1,
        "split": "0.5,0.25,0.25",
        "workers": 0,
        "pairs_per_epoch": 16,
        "evaluate": False,
        "ways": "2",
        "episodes": 20,
    }
    settings.update(extra)
    return settings


@contextlib.contextmanager
def quick_onnx_export():
    """Only the TorchScript exporter while this is open.

    Evaluating a fresh model folder exports it to ONNX, and the default exporter order tries the
    dynamo one first, which takes about five times as long on the tiny network. Fixtures whose
    tests are not about the export use this; the export tests keep the default order.
    """
    from siamkit.inference import onnx_export

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(onnx_export, "EXPORTERS", ("torchscript",))
        yield


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Size and modification time of every file under ``root``, by relative path."""
    files = (path for path in root.rglob("*") if path.is_file())
    return {str(path.relative_to(root)): (path.stat().st_size, path.stat().st_mtime_ns) for path in files}


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> dict[str, Path]:
    """One tiny model, trained and evaluated once per session, for tests that only read it.

    Keys: ``data`` (12 identities x 4 images, split 6 / 3 / 3 so 2- and 3-way one-shot both fit),
    ``run`` (its run folder: split.json, metrics.json, report.html), ``model`` (its model folder,
    with model.onnx already exported) and ``gallery`` (4 other identities x 3 images).
    Shared by the inference, evaluation and service tests: a test that changes any of these
    copies it first (``shutil.copytree``); the check at the end of the session says if one did not.
    """
    from siamkit.inference.siamese_model import SiameseModel
    from siamkit.training.config import load_config
    from siamkit.pipelines.train_and_evaluate import train_and_evaluate

    root = tmp_path_factory.mktemp("trained")
    data = make_identity_images(root / "data", identities=12, per_identity=4)
    settings = tiny_train_settings(evaluate=True, ways="2,3", episodes=20)
    with quick_onnx_export():
        result = train_and_evaluate(data, root / "run", load_config(None, settings))
        SiameseModel.load(result.model_folder)  # exports model.onnx once (if evaluating did not); later loads reuse it
    gallery = make_identity_images(root / "gallery", identities=4, per_identity=3, seed=7)
    before = _snapshot(root)
    yield {"data": data, "run": result.run_folder, "model": result.model_folder, "gallery": gallery}
    after = _snapshot(root)
    changed = sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))
    assert not changed, f"a test changed the shared trained run instead of a copy of it: {changed}"


def load_benchmark(name: str):
    """``benchmarks/NAME.py`` as a module, for the smoke tests that run a taste of its fuzzers."""
    import importlib.util
    import sys

    script = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, script)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module
