"""A grey-scale network trained from scratch on drawings, end to end: episodes with the
prototypical loss, rotations as new classes, one channel in the model folder, ONNX, the service
and the evaluation (with 2-shot episodes)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from siamkit.data.decoder import ImageDecoder
from siamkit.data.images import load_image
from tests.conftest import quick_onnx_export, tiny_train_settings


def make_drawings(folder: Path, alphabets: int = 4, characters: int = 4, drawers: int = 5, size: int = 40) -> Path:
    """Alphabets of stroke characters: each character a few random lines, each drawer jitters them."""
    rng = np.random.default_rng(3)
    for a in range(alphabets):
        for c in range(characters):
            strokes = rng.uniform(0.15, 0.85, size=(3, 4)) * size
            target = folder / f"alphabet_{a}" / f"character_{c:02d}"
            target.mkdir(parents=True)
            for d in range(drawers):
                image = Image.new("L", (size, size), 255)
                draw = ImageDraw.Draw(image)
                for stroke in strokes + rng.normal(0, 1.0, strokes.shape):
                    draw.line(list(stroke), fill=0, width=2)
                image.save(target / f"{d:02d}.png")
    return folder


@pytest.fixture(scope="module")
def grey_run(tmp_path_factory):
    from siamkit.pipelines.train_and_evaluate import train_and_evaluate
    from siamkit.training.config import load_config

    root = tmp_path_factory.mktemp("grey")
    data = make_drawings(root / "data")
    settings = tiny_train_settings(
        backbone="conv4", image_size=16, head="mlp", split_by="group", split="0.5,0.25,0.25",
        loss="prototypical", sampling="episodes", episode_ways=3, episode_shots=1, episode_queries=2,
        episodes_within_group=0.5, rotate_classes=True, shear=10.0, scale_jitter=0.1, translate=0.05,
        crop_scale=1.0, horizontal_flip=False, color_jitter=0.0, rotation=10.0, max_epochs=2,
        evaluate=True, ways="2", shots="1,2", within_group=True,
    )
    with quick_onnx_export():
        result = train_and_evaluate(data, root / "run", load_config(None, settings))
    return {"data": data, "run": result.run_folder, "model": result.model_folder}


def test_the_model_folder_records_one_channel(grey_run):
    config = json.loads((grey_run["model"] / "config.json").read_text())
    assert config["backbone"] == "conv4"
    assert config["preprocessing"]["in_chans"] == 1 and config["preprocessing"]["mean"] == [0.5]
    assert config["image_size"] == 16


def test_every_backend_embeds_one_channel_alike(grey_run):
    from siamkit.inference.siamese_model import SiameseModel

    images = sorted(str(path) for path in grey_run["data"].rglob("*.png"))[:4]
    torch_model = SiameseModel.load(grey_run["model"], backend="torch")
    onnx_model = SiameseModel.load(grey_run["model"], backend="onnx")
    assert torch_model.config.preprocessing.in_chans == 1
    np.testing.assert_allclose(onnx_model.embed(images), torch_model.embed(images), rtol=0, atol=1e-5)
    # An RGB upload is read as grey, exactly as the grey file is.
    rgb = np.asarray(load_image(images[0]))
    assert rgb.shape[2] == 3
    np.testing.assert_array_equal(torch_model.embed(rgb), torch_model.embed(images[0]))
    decoded = ImageDecoder(torch_model.config.preprocessing).array(images[0])
    assert decoded.shape == (16, 16, 1)


def test_the_service_embeds_one_channel(grey_run):
    from fastapi.testclient import TestClient

    from siamkit.inference.siamese_model import SiameseModel
    from siamkit.service.app import create_app

    images = sorted(grey_run["data"].rglob("*.png"))[:2]
    with TestClient(create_app(SiameseModel.load(grey_run["model"]))) as client:
        files = [("images", (p.name, p.read_bytes(), "image/png")) for p in images]
        answer = client.post("/v1/embed", files=files)
        assert answer.status_code == 200, answer.text
        compared = client.post("/v1/compare", files={"image_a": images[0].read_bytes(), "image_b": images[1].read_bytes()})
        assert compared.status_code == 200, compared.text
    expected = SiameseModel.load(grey_run["model"]).embed([str(p) for p in images])
    np.testing.assert_allclose(np.asarray(answer.json()["embeddings"]), expected, rtol=0, atol=1e-6)


def test_the_evaluation_reports_k_shot_within_and_across_groups(grey_run):
    metrics = json.loads((grey_run["run"] / "metrics.json").read_text())
    assert metrics["one_shot"]["2"]["shots"] == 1 and metrics["one_shot"]["2"]["within_group"]
    assert metrics["k_shot"]["2"]["2"]["shots"] == 2
    assert metrics["k_shot_across_groups"]["2"]["2"]["within_group"] is False
    report = (grey_run["run"] / "report.html").read_text()
    assert "2-shot" in report


def test_rotated_copies_are_made_from_training_images_only(grey_run):
    from siamkit.data.dataset import scan_dataset
    from siamkit.data.preprocessing import Preprocessing
    from siamkit.data.split_file import Split
    from siamkit.pipelines.lightning_fit import _train_loader
    from siamkit.training.config import load_config

    split = Split.load(grey_run["run"] / "split.json")
    train = split.subset(scan_dataset(grey_run["data"]), "train")
    config = load_config(None, tiny_train_settings(backbone="conv4", image_size=16, rotate_classes=True, loss="prototypical",
                                                   sampling="episodes", episode_ways=2, episode_queries=2))
    images = _train_loader(train, Preprocessing(16, (0.5,), (0.5,), "bilinear", 1), config).dataset
    assert set(images.paths) == set(split.train) and not set(images.paths) & (set(split.val) | set(split.test))
    assert len(images.paths) == 4 * len(split.train) and len(set(images.labels)) == 4 * len(train.identities())
    assert sorted(set(images.quarter_turns)) == [0, 1, 2, 3]
