"""``siamkit export`` describes the preprocessing in the ONNX metadata as JSON, for any language to read."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from siamkit.cli.main import app
from siamkit.models.model_folder import read_model_config


def test_exported_preprocessing_metadata_is_json(trained, tmp_path):
    import onnxruntime

    out = tmp_path / "model.onnx"
    result = CliRunner().invoke(app, ["export", str(trained["model"]), "--onnx", str(out)])
    assert result.exit_code == 0, (result.output, result.exception)
    metadata = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    config, _ = read_model_config(trained["model"])
    assert json.loads(metadata["siamkit.preprocessing"]) == json.loads(json.dumps(config.preprocessing.to_dict()))
