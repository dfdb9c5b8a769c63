"""One tiny trained model folder (and its ONNX export) for the whole inference folder.

Training and exporting cost seconds; every test here only reads the folder, so it is built once
per session. The "other" model has the same architecture but fresh random weights, which is all
the refusal tests need.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import TINY_BACKBONE, make_identity_images, tiny_train_settings


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> dict:
    from siamkit.inference.siamese_model import SiameseModel
    from siamkit.training.config import load_config
    from siamkit.training.run import train

    root = tmp_path_factory.mktemp("inference")
    data = make_identity_images(root / "data", identities=8, per_identity=4)
    result = train(data, root / "run", load_config(None, tiny_train_settings()))
    SiameseModel.load(result.model_folder)  # exports model.onnx once; later loads reuse it
    gallery = make_identity_images(root / "gallery", identities=4, per_identity=3, seed=7)
    return {"root": root, "data": data, "model": result.model_folder, "gallery": gallery}


@pytest.fixture(scope="session")
def other_model(trained) -> Path:
    """Same architecture and preprocessing, different weights: a different model id."""
    from siamkit.data.preprocessing import Preprocessing
    from siamkit.models.model_folder import ModelConfig, read_model_config, save_model_folder
    from siamkit.models.network import SiameseNetwork

    config, _ = read_model_config(trained["model"])
    network = SiameseNetwork.create(TINY_BACKBONE, "none", config.embedding_dim, config.hidden_dim)
    other = ModelConfig(TINY_BACKBONE, Preprocessing.from_dict(config.preprocessing.to_dict()), config.embedding_dim, config.hidden_dim, threshold=0.5)
    return save_model_folder(trained["root"] / "other_model", other, network.state_dict())


@pytest.fixture(scope="session")
def torch_model(trained):
    from siamkit.inference.siamese_model import SiameseModel

    return SiameseModel.load(trained["model"], backend="torch")


@pytest.fixture(scope="session")
def onnx_model(trained):
    from siamkit.inference.siamese_model import SiameseModel

    return SiameseModel.load(trained["model"], backend="onnx")
