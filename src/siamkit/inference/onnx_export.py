"""The network as an ONNX file: images (N, C, S, S) in (C = 3, or 1 for a grey-scale backbone), L2-normalised embeddings (N, D) out.

Two exporters exist and neither is right for every model and torch version: the torch.export
based one ("dynamo", the default since torch 2.9, which needs onnxscript) and the older
TorchScript tracer. We try them in that order and keep the first whose file, run by
onnxruntime, reproduces eager PyTorch within ``TOLERANCE`` at two batch sizes (so the batch axis
really is dynamic). The file is written atomically and carries, in its metadata, the checksum of
the weights it came from: a cached export is only reused for exactly those weights.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np

from siamkit.errors import SiamkitError
from siamkit.io.atomic import atomic_path

if TYPE_CHECKING:  # imported where a network is exported; reading an export needs no torch
    import torch

log = logging.getLogger("siamkit")

INPUT_NAME = "images"
OUTPUT_NAME = "embeddings"
OPSET = 18
# Bump when the exported graph changes (inputs, outputs, opset), so cached exports are redone.
EXPORT_VERSION = "1"
TOLERANCE = 1e-4
EXPORTERS = ("dynamo", "torchscript")
# SIAMKIT_ONNX_EXPORTERS=torchscript (names, comma-separated, tried in that order) skips the
# dynamo exporter: about five times faster on small networks, and it needs no onnxscript.
EXPORTERS_VARIABLE = "SIAMKIT_ONNX_EXPORTERS"

# Keys of the ONNX file's metadata_props.
WEIGHTS_KEY = "siamkit.weights_sha256"
VERSION_KEY = "siamkit.export_version"


def export_network(network: torch.nn.Module, image_size: int, path: str | os.PathLike, metadata: dict[str, str] | None = None) -> Path:
    """Export ``network`` to ``path`` (atomically) and return the path; SiamkitError if no
    exporter produces a file that matches eager PyTorch."""
    model = build_onnx(network, image_size, str(path))
    try:
        return save_onnx(model, path, metadata)
    except OSError as exc:
        raise SiamkitError(f"{path}: cannot write the ONNX file ({exc.strerror or exc})") from None


def build_onnx(network: torch.nn.Module, image_size: int, where: str = "ONNX export"):
    """The checked ONNX ModelProto of ``network`` (first exporter whose output matches)."""
    network = network.eval()
    failures = []
    for exporter in exporter_order():
        try:
            model = _export(network, image_size, exporter)
            difference = _max_difference(model, network, image_size)
        except Exception as exc:  # noqa: BLE001 - each exporter fails in its own ways
            failures.append(f"{exporter}: {_first_line(exc)}")
            continue
        if difference <= TOLERANCE:
            break
        failures.append(f"{exporter}: output differs from PyTorch by {difference:.2g}")
    else:
        raise SiamkitError(f"{where}: ONNX export failed ({'; '.join(failures)})")
    if failures:
        log.debug("ONNX export: %s; used %s", "; ".join(failures), exporter)
    model.metadata_props.add(key="siamkit.exporter", value=exporter)
    return model


def exporter_order() -> tuple[str, ...]:
    """The exporters to try, in order: ``SIAMKIT_ONNX_EXPORTERS`` if set, else :data:`EXPORTERS`."""
    chosen = os.environ.get(EXPORTERS_VARIABLE, "").strip()
    if not chosen:
        return EXPORTERS
    names = tuple(name.strip() for name in chosen.split(",") if name.strip())
    unknown = [name for name in names if name not in ("dynamo", "torchscript")]
    if unknown or not names:
        raise SiamkitError(f"{EXPORTERS_VARIABLE}={chosen!r}: the exporters are dynamo and torchscript (comma-separated, tried in order)")
    return names


def save_onnx(model, path: str | os.PathLike, metadata: dict[str, str] | None = None) -> Path:
    """Write ``model`` with siamkit's metadata to ``path`` atomically (OSError if not writable)."""
    import onnx

    properties = {prop.key: prop.value for prop in model.metadata_props}
    properties.update({VERSION_KEY: EXPORT_VERSION, **{str(k): str(v) for k, v in (metadata or {}).items()}})
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, properties)
    target = Path(path)
    with atomic_path(target) as temporary:
        onnx.save_model(model, temporary)
    return target


def read_fresh_onnx(path: str | os.PathLike, weights_sha256: str):
    """The ModelProto at ``path`` if it is this siamkit's export of exactly these weights, else None."""
    import onnx

    try:
        model = onnx.load_model(str(path))
    except Exception:  # noqa: BLE001 - missing, unreadable or not ONNX: not a usable cache
        return None
    properties = {prop.key: prop.value for prop in model.metadata_props}
    fresh = properties.get(WEIGHTS_KEY) == weights_sha256 and properties.get(VERSION_KEY) == EXPORT_VERSION
    return model if fresh else None


def _export(network: torch.nn.Module, image_size: int, exporter: str):
    """The ONNX ModelProto of ``network``, with a dynamic batch axis."""
    import onnx
    import torch

    sample = torch.randn(2, _channels(network), image_size, image_size, device=_device_of(network))
    names = dict(input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], opset_version=OPSET)
    # The exporters talk (progress lines on stdout, deprecation warnings): a CLI answer or an
    # error line must stay the only output.
    with _quiet(), torch.no_grad():
        if exporter == "dynamo":
            batch = torch.export.Dim("batch", min=1, max=65536)
            program = torch.onnx.export(
                network, (sample,), None, dynamo=True, verbose=False, external_data=False,
                dynamic_shapes={"images": {0: batch}}, **names,
            )
            return program.model_proto
        buffer = io.BytesIO()
        torch.onnx.export(
            network, (sample,), buffer, dynamo=False, verbose=False,
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}, **names,
        )
        return onnx.load_model_from_string(buffer.getvalue())


def _max_difference(model, network: torch.nn.Module, image_size: int) -> float:
    """Largest absolute difference between onnxruntime and eager PyTorch, at batch sizes 1 and 3."""
    import onnxruntime
    import torch

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(0)
    worst = 0.0
    for batch in (1, 3):
        images = torch.randn(batch, _channels(network), image_size, image_size, generator=generator)
        with torch.inference_mode():
            expected = network(images.to(_device_of(network))).float().cpu().numpy()
        (actual,) = session.run([OUTPUT_NAME], {INPUT_NAME: images.numpy()})
        if actual.shape != expected.shape:
            return float("inf")
        worst = max(worst, float(np.abs(actual - expected).max()))
    return worst


@contextlib.contextmanager
def _quiet():
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")]
        levels = [logger.level for logger in loggers]
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)


def _channels(network: torch.nn.Module) -> int:
    """The input channels the network reads (1 for a grey-scale backbone, else 3)."""
    return int(getattr(network, "in_chans", 3))


def _device_of(network: torch.nn.Module) -> torch.device:
    return next(network.parameters()).device


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__
