import json

import pytest
import torch

from siamkit.data.preprocessing import Preprocessing
from siamkit.errors import SiamkitError
from siamkit.models.model_folder import ModelConfig, load_model_weights, read_model_config, save_model_folder


def _config():
    return ModelConfig("resnet10t", Preprocessing(32, (0.5,) * 3, (0.5,) * 3), embedding_dim=8, threshold=0.7)


def test_round_trip(tmp_path):
    state = {"w": torch.arange(6.0).reshape(2, 3)}
    save_model_folder(tmp_path / "m", _config(), state)
    config, raw = read_model_config(tmp_path / "m")
    assert config.threshold == 0.7 and config.preprocessing.image_size == 32 and raw["siamkit_version"]
    assert torch.equal(load_model_weights(tmp_path / "m", raw)["w"], state["w"])


def test_tampered_weights_are_refused(tmp_path):
    save_model_folder(tmp_path / "m", _config(), {"w": torch.zeros(100)})
    weights = tmp_path / "m" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    _, raw = read_model_config(tmp_path / "m")
    with pytest.raises(SiamkitError, match="checksum"):
        load_model_weights(tmp_path / "m", raw)


def test_other_format_version_is_refused(tmp_path):
    save_model_folder(tmp_path / "m", _config(), {"w": torch.zeros(1)})
    path = tmp_path / "m" / "config.json"
    data = json.loads(path.read_text())
    data["format_version"] = 99
    path.write_text(json.dumps(data))
    with pytest.raises(SiamkitError, match="format 99"):
        read_model_config(tmp_path / "m")


def test_not_a_model_folder(tmp_path):
    with pytest.raises(SiamkitError, match="not a siamkit model folder"):
        read_model_config(tmp_path)
    (tmp_path / "config.json").write_text("{trunc")
    with pytest.raises(SiamkitError, match="not valid JSON"):
        read_model_config(tmp_path)


def test_written_files_are_readable_by_others_not_owner_only(tmp_path):
    import os
    import stat

    save_model_folder(tmp_path / "m", _config(), {"w": torch.zeros(1)})
    umask = os.umask(0)
    os.umask(umask)
    for name in ("config.json", "model.safetensors"):
        mode = stat.S_IMODE((tmp_path / "m" / name).stat().st_mode)
        assert mode == 0o666 & ~umask
