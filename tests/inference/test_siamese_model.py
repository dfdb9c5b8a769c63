"""SiameseModel: embedding every input kind, comparing, both backends, ONNX export and its cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from siamkit.errors import SiamkitError
from siamkit.inference import onnx_export
from siamkit.inference.siamese_model import SiameseModel


def _images(folder: Path) -> list[str]:
    return sorted(str(path) for path in Path(folder).rglob("*.png"))


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_every_input_kind_gives_the_same_unit_embedding(request, trained, backend):
    model = request.getfixturevalue(f"{backend}_model")
    path = _images(trained["gallery"])[0]
    pixels = np.asarray(Image.open(path).convert("RGB"))
    inputs = {
        "str": path,
        "Path": Path(path),
        "bytes": Path(path).read_bytes(),
        "PIL": Image.open(path),
        "uint8 array": pixels,
        "float array": pixels.astype(np.float32) / 255.0,
    }
    reference = model.embed(path)
    assert reference.shape == (1, model.embedding_dim) and reference.dtype == np.float32
    for kind, item in inputs.items():
        single = model.embed(item)
        assert single.shape == (1, model.embedding_dim), kind
        np.testing.assert_allclose(single, reference, atol=1e-5, err_msg=kind)
    batch = model.embed(list(inputs.values()))
    assert batch.shape == (len(inputs), model.embedding_dim)
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)


def test_compare_is_symmetric_and_uses_the_model_threshold(onnx_model, trained):
    paths = _images(trained["gallery"])
    same_identity, other_identity = (paths[0], paths[1]), (paths[0], paths[-1])
    for first, second in (same_identity, other_identity):
        forward, backward = onnx_model.compare(first, second), onnx_model.compare(second, first)
        assert forward.distance == pytest.approx(backward.distance, abs=1e-6)
        assert forward.same == (forward.distance <= onnx_model.threshold) and forward.threshold == onnx_model.threshold
        assert 0.0 <= forward.similarity <= 1.0
        assert forward.similarity == pytest.approx(1 - forward.distance**2 / 4, abs=1e-6)
    assert onnx_model.compare(paths[2], paths[2]).same and onnx_model.compare(paths[2], paths[2]).distance < 1e-3
    assert set(onnx_model.compare(*same_identity).to_dict()) == {"distance", "similarity", "same", "threshold"}


def test_onnx_backend_matches_torch_within_1e4(torch_model, onnx_model, trained):
    assert (torch_model.backend, onnx_model.backend) == ("torch", "onnx")
    paths = _images(trained["data"]) + _images(trained["gallery"])
    difference = np.abs(torch_model.embed(paths) - onnx_model.embed(paths)).max()
    assert difference < 1e-4


def test_auto_backend_picks_onnxruntime_and_reuses_the_cached_export(trained, monkeypatch):
    monkeypatch.setattr(onnx_export, "build_onnx", _forbidden)
    model = SiameseModel.load(trained["model"])  # the session fixture exported already
    assert model.backend == "onnx" and model.onnx_path == trained["model"] / "model.onnx"
    fast = SiameseModel.load(trained["model"], jpeg_draft=True)
    assert fast._embedder.draft is True and model._embedder.draft is False  # exact decoding by default


def test_exported_file_has_a_dynamic_batch_and_matches_torch(torch_model, trained, tmp_path):
    import onnxruntime

    path = torch_model.export_onnx(tmp_path / "out" / "model.onnx")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    metadata = session.get_modelmeta().custom_metadata_map
    assert metadata[onnx_export.WEIGHTS_KEY] == torch_model.weights_sha256
    assert metadata["siamkit.model_id"] == torch_model.model_id
    from siamkit.inference.embedder import pipelined_batches

    images = next(pipelined_batches(_images(trained["gallery"])[:5], torch_model.config.preprocessing, 8))
    for batch in (images[:1], images):
        (actual,) = session.run(["embeddings"], {"images": np.ascontiguousarray(batch.numpy())})
        np.testing.assert_allclose(actual, torch_model.embed_tensors(batch), atol=1e-4)
    assert [p.name for p in path.parent.iterdir()] == ["model.onnx"]  # no temporary left behind


def _forbidden(*args, **kwargs):
    raise AssertionError("the cached ONNX export should have been reused")


def test_stale_or_unwritable_export_cache(trained, tmp_path, monkeypatch):
    """A cached export of other weights is never used; a read-only model folder caches elsewhere."""
    folder = tmp_path / "model"
    shutil.copytree(trained["model"], folder)
    import onnx

    stale = onnx.load(str(folder / "model.onnx"))
    for prop in stale.metadata_props:
        if prop.key == onnx_export.WEIGHTS_KEY:
            prop.value = "0" * 64
    onnx.save(stale, str(folder / "model.onnx"))

    monkeypatch.setattr(onnx_export, "EXPORTERS", ("torchscript",))  # the quick exporter, for test time
    monkeypatch.setenv("SIAMKIT_CACHE_DIR", str(tmp_path / "cache"))
    real_save = onnx_export.save_onnx

    def read_only_folder(model, path, metadata=None):
        if Path(path).parent == folder:
            raise PermissionError(13, "Permission denied")
        return real_save(model, path, metadata)

    monkeypatch.setattr(onnx_export, "save_onnx", read_only_folder)
    model = SiameseModel.load(folder, backend="onnx")
    cached = list((tmp_path / "cache" / "onnx").glob("*.onnx"))
    assert len(cached) == 1 and model._embedder.path == cached[0]
    assert model._embedder.metadata[onnx_export.WEIGHTS_KEY] == model.weights_sha256

    monkeypatch.setattr(onnx_export, "build_onnx", _forbidden)
    again = SiameseModel.load(folder, backend="onnx")
    assert again._embedder.path == cached[0]


def test_bad_inputs_raise_one_clear_error(onnx_model, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(SiamkitError, match="broken.jpg"):
        onnx_model.embed(str(broken))
    with pytest.raises(SiamkitError, match="empty"):
        onnx_model.embed([])
    with pytest.raises(SiamkitError, match="backend"):
        SiameseModel.load(tmp_path, backend="tensorrt")


@pytest.mark.slow
def test_the_default_order_exports_with_dynamo_first(torch_model, monkeypatch):
    """The suite exports with TorchScript (tests/conftest.py); users get dynamo first, checked here."""
    monkeypatch.delenv(onnx_export.EXPORTERS_VARIABLE, raising=False)
    model = onnx_export.build_onnx(torch_model.network, torch_model.config.preprocessing.image_size)
    assert {prop.key: prop.value for prop in model.metadata_props}["siamkit.exporter"] == "dynamo"


def test_the_exporters_can_be_chosen_from_the_environment(monkeypatch):
    from siamkit.errors import SiamkitError

    monkeypatch.delenv(onnx_export.EXPORTERS_VARIABLE, raising=False)
    assert onnx_export.exporter_order() == ("dynamo", "torchscript")
    monkeypatch.setenv(onnx_export.EXPORTERS_VARIABLE, " torchscript ")
    assert onnx_export.exporter_order() == ("torchscript",)
    monkeypatch.setenv(onnx_export.EXPORTERS_VARIABLE, "torchscript,dynamo")
    assert onnx_export.exporter_order() == ("torchscript", "dynamo")
    monkeypatch.setenv(onnx_export.EXPORTERS_VARIABLE, "tensorrt")
    with pytest.raises(SiamkitError, match="SIAMKIT_ONNX_EXPORTERS='tensorrt': the exporters are dynamo and torchscript"):
        onnx_export.exporter_order()
