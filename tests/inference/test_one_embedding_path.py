"""One image, one embedding, whichever path embeds it (the architecture issue's acceptance).

The threshold in a model folder is chosen on the calibration embedder's distances; it only means
something if ``SiameseModel`` (torch or onnxruntime), the evaluation and its baseline embed
exactly as calibration did: same decoder, same preprocessing, same float32 network.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from siamkit.inference.embedder import TorchEmbedder, pipelined_batches
from siamkit.inference.siamese_model import SiameseModel, build_network
from siamkit.models.model_folder import load_model_weights, read_model_config
from siamkit.pipelines import evaluation_run
from siamkit.pipelines.training_run import calibration_embedder


class _Embedded(Exception):
    """Stops the evaluation once it has embedded its images: the rest is metrics."""


def _first_image(folder: Path) -> str:
    return sorted(str(path) for path in Path(folder).rglob("*.png"))[0]


def _calibration_embedding(model_folder: Path, image: str) -> np.ndarray:
    """What training_run's threshold calibration computes, on the network as saved."""
    config, raw = read_model_config(model_folder)
    network = build_network(config)
    network.load_state_dict(load_model_weights(model_folder, raw), strict=True)
    return calibration_embedder(network, config.preprocessing, batch_size=8).embed([image])


def _evaluation_embedding(model_folder: Path, data: Path, image: str, backend: str, tmp_path, monkeypatch) -> np.ndarray:
    """The embedding ``evaluate_model_folder`` computes for ``image``, read from inside the run."""
    seen = {}
    real_embed = SiameseModel.embed

    def embed_and_stop(model, images, progress=False):
        seen["backend"] = model.backend
        seen["embedding"] = real_embed(model, [image])
        raise _Embedded

    monkeypatch.setattr(SiameseModel, "embed", embed_and_stop)
    with pytest.raises(_Embedded):
        evaluation_run.evaluate_model_folder(model_folder, data, tmp_path / backend, split="all", ways="2", episodes=20, baseline=False, backend=backend)
    monkeypatch.setattr(SiameseModel, "embed", real_embed)
    assert seen["backend"] == backend
    return seen["embedding"]


def test_one_image_has_one_embedding_on_every_path(trained, tmp_path, monkeypatch):
    image = _first_image(trained["data"])
    calibration = _calibration_embedding(trained["model"], image)
    served = SiameseModel.load(trained["model"], backend="torch").embed(image)
    evaluated = _evaluation_embedding(trained["model"], trained["data"], image, "torch", tmp_path, monkeypatch)
    assert calibration.dtype == served.dtype == evaluated.dtype == np.float32
    # every torch path is the same computation, so the same bits
    assert np.array_equal(served, calibration)
    assert np.array_equal(evaluated, calibration)


def test_onnxruntime_on_the_cpu_agrees_with_calibration_within_1e5(trained, tmp_path, monkeypatch):
    """The CPU serves (and evaluates) with onnxruntime by default: its distances are calibration's."""
    image = _first_image(trained["data"])
    calibration = _calibration_embedding(trained["model"], image)
    served = SiameseModel.load(trained["model"]).embed(image)
    evaluated = _evaluation_embedding(trained["model"], trained["data"], image, "onnx", tmp_path, monkeypatch)
    np.testing.assert_allclose(served, calibration, rtol=0, atol=1e-5)
    np.testing.assert_allclose(evaluated, calibration, rtol=0, atol=1e-5)


def test_the_baseline_embeds_through_the_same_embedder(trained):
    """The evaluation's untrained baseline: the calibration embedder on the bare backbone, unit length."""
    model = SiameseModel.load(trained["model"], backend="torch")
    embedder = evaluation_run._baseline_embedder(model, seed=0)
    assert type(embedder) is TorchEmbedder and embedder.preprocessing == model.config.preprocessing
    image = _first_image(trained["data"])
    embedding = embedder.embed([image])
    assert np.linalg.norm(embedding, axis=1) == pytest.approx(1.0, abs=1e-6)
    pixels = next(pipelined_batches([image], embedder.preprocessing, 1))
    with torch.inference_mode():
        features = embedder.network(pixels.contiguous(memory_format=torch.channels_last))
    assert np.array_equal(embedding, torch.nn.functional.normalize(features, dim=1).numpy())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_gpu_serves_the_distances_the_threshold_was_chosen_on(trained):
    """No float16 autocast, no TF32: a GPU embeds as calibration (on the CPU) did, to float32 rounding."""
    image = _first_image(trained["data"])
    calibration = _calibration_embedding(trained["model"], image)
    served = SiameseModel.load(trained["model"], device="cuda", backend="torch").embed(image)
    np.testing.assert_allclose(served, calibration, rtol=0, atol=1e-5)
    assert torch.backends.cudnn.allow_tf32  # the process-wide default is restored after embedding


def test_a_cached_onnx_export_answers_without_torch_or_timm(trained):
    """issue 16 item 7: compare and search on onnxruntime start without importing torch (the
    start-up time itself is measured by benchmarks/startup.py, not here)."""
    import subprocess
    import sys

    images = sorted(str(p) for p in trained["gallery"].glob("*/*.png"))[:2]
    script = (
        "import sys\n"
        "from siamkit.inference.siamese_model import SiameseModel\n"
        f"model = SiameseModel.load({str(trained['model'])!r}, backend='onnx')\n"
        f"result = model.compare({images[0]!r}, {images[1]!r})\n"
        "print(result.distance, [name for name in ('torch', 'timm', 'torchvision', 'lightning') if name in sys.modules])\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    distance, loaded = done.stdout.split(" ", 1)
    assert loaded.strip() == "[]"
    from siamkit.inference.siamese_model import SiameseModel

    expected = SiameseModel.load(trained["model"], backend="torch").compare(*images).distance
    assert abs(float(distance) - expected) < 1e-4  # the same answer as the torch network gives


def test_the_torch_network_of_an_onnx_loaded_model_is_built_when_first_asked_for(trained):
    import torch

    from siamkit.inference.siamese_model import SiameseModel

    onnx_model = SiameseModel.load(trained["model"], backend="onnx")
    assert onnx_model._network is None  # nothing built to answer on onnxruntime
    torch_model = SiameseModel.load(trained["model"], backend="torch")
    built = onnx_model.network
    assert built is onnx_model.network and not built.training
    for (name, value), (other, expected) in zip(built.state_dict().items(), torch_model.network.state_dict().items()):
        assert name == other and torch.equal(value, expected)


def test_lightning_validation_scores_the_embeddings_calibration_computes(trained):
    """The in-loop validation (the early-stopping score) decodes with the embedders' decoder and
    runs their float32 forward, so the epoch it picks is judged on the distances that serve."""
    from siamkit.data.dataset import scan_dataset
    from siamkit.pipelines.lightning_fit import _val_loader
    from siamkit.training.config import TrainConfig
    from siamkit.training.module import SiameseModule

    config, raw = read_model_config(trained["model"])
    network = build_network(config)
    network.load_state_dict(load_model_weights(trained["model"], raw), strict=True)
    network = network.to(memory_format=torch.channels_last)  # as lightning_fit trains it (channels_last: true)
    train_config = TrainConfig(batch_size=8, workers=0, embedding_dim=config.embedding_dim)
    loader, _ = _val_loader(scan_dataset(trained["data"]), config.preprocessing, train_config)
    module = SiameseModule(train_config, network, num_classes=2, val_pairs=None).eval()
    with torch.inference_mode():
        for index, batch in enumerate(loader):
            module.validation_step(batch, index)
    validated = torch.cat(module._val_embeddings).numpy()
    paths = loader.dataset.paths
    calibrated = calibration_embedder(network, config.preprocessing, batch_size=8).embed(paths)
    assert validated.dtype == calibrated.dtype == np.float32
    assert np.array_equal(validated, calibrated)
