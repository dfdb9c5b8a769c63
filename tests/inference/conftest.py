"""Models for the inference folder, built on the session's one tiny trained model.

``trained`` (in ``tests/conftest.py``) is trained and exported once per session; every test here
only reads it. The "other" model has the same architecture but fresh random weights, which is all
the refusal tests need.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import TINY_BACKBONE


@pytest.fixture(scope="session")
def other_model(trained, tmp_path_factory) -> Path:
    """Same architecture and preprocessing, different weights: a different model id."""
    from siamkit.data.preprocessing import Preprocessing
    from siamkit.models.model_folder import ModelConfig, read_model_config, save_model_folder
    from siamkit.models.network import SiameseNetwork

    config, _ = read_model_config(trained["model"])
    network = SiameseNetwork.create(TINY_BACKBONE, "none", config.embedding_dim, config.hidden_dim)
    other = ModelConfig(TINY_BACKBONE, Preprocessing.from_dict(config.preprocessing.to_dict()), config.embedding_dim, config.hidden_dim, threshold=0.5)
    return save_model_folder(tmp_path_factory.mktemp("other") / "other_model", other, network.state_dict())


@pytest.fixture(scope="session")
def torch_model(trained):
    from siamkit.inference.siamese_model import SiameseModel

    return SiameseModel.load(trained["model"], backend="torch")


@pytest.fixture(scope="session")
def onnx_model(trained):
    from siamkit.inference.siamese_model import SiameseModel

    return SiameseModel.load(trained["model"], backend="onnx")
