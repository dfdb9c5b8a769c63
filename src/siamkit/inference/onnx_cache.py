"""The cached ONNX export of a model folder: where it lives, what it must say about itself, and
reading it back (without torch) or exporting it once.

An export is kept as ``model.onnx`` in the model folder, or, when that folder is read-only, in
the user's cache folder (then the system's temporary folder) keyed by the weights' checksum. Its
metadata names the weights' checksum and the export version, so a stale export is redone, never
used.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from siamkit.errors import SiamkitError
from siamkit.models.model_folder import WEIGHTS_NAME, ModelConfig, model_identity

if TYPE_CHECKING:
    from siamkit.models.network import SiameseNetwork

log = logging.getLogger("siamkit")

ONNX_CACHE_NAME = "model.onnx"


def onnx_metadata(config: ModelConfig, model_id: str, weights_sha256: str | None) -> dict[str, str]:
    from siamkit.inference.onnx_export import WEIGHTS_KEY

    metadata = {
        "siamkit.model_id": model_id,
        "siamkit.backbone": config.backbone,
        "siamkit.image_size": str(config.preprocessing.image_size),
        "siamkit.embedding_dim": str(config.embedding_dim),
        "siamkit.preprocessing": json.dumps(config.preprocessing.to_dict(), sort_keys=True),  # JSON, readable from any language
        "siamkit.threshold": repr(config.threshold),
    }
    if weights_sha256:
        metadata[WEIGHTS_KEY] = weights_sha256
    return metadata


def onnx_cache_paths(folder: Path, weights_sha256: str) -> list[Path]:
    """Where a cached export may live, most preferred first: the model folder itself, then a
    per-user cache keyed by the weights' checksum (for read-only model folders)."""
    base = os.environ.get("SIAMKIT_CACHE_DIR") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "siamkit")
    name = f"{weights_sha256[:32]}.onnx"
    candidates = [folder / ONNX_CACHE_NAME, Path(base) / "onnx" / name]
    candidates.append(Path(tempfile.gettempdir()) / f"siamkit-{os.getuid() if hasattr(os, 'getuid') else 'user'}" / "onnx" / name)
    return candidates


def cached_onnx(config: ModelConfig, folder: Path, raw_config: dict, batch_size: int):
    """An :class:`OnnxEmbedder` on a cached export of exactly these weights, or None (no torch)."""
    from siamkit.inference.onnx_embedder import OnnxEmbedder
    from siamkit.inference.onnx_export import EXPORT_VERSION, VERSION_KEY, WEIGHTS_KEY

    weights_sha256 = raw_config["files"][WEIGHTS_NAME]["sha256"]  # verify_model_weights checked it
    for candidate in onnx_cache_paths(folder, weights_sha256):
        if not candidate.is_file():
            continue
        try:
            embedder = OnnxEmbedder(candidate, config.preprocessing, batch_size)
        except SiamkitError:
            continue  # damaged cache file: export again
        expected = {WEIGHTS_KEY: weights_sha256, VERSION_KEY: EXPORT_VERSION, "siamkit.backbone": config.backbone,
                    "siamkit.image_size": str(config.preprocessing.image_size), "siamkit.embedding_dim": str(config.embedding_dim)}
        if all(embedder.metadata.get(key) == value for key, value in expected.items()):
            return embedder  # else config.json no longer describes these weights: the torch path says how
    return None


def exported_onnx_embedder(network: SiameseNetwork, config: ModelConfig, folder: Path, raw_config: dict, batch_size: int):
    """Export ``network`` into the first writable cache place and an :class:`OnnxEmbedder` on it
    (for when :func:`cached_onnx` found no export of these weights)."""
    from siamkit.inference.onnx_embedder import OnnxEmbedder
    from siamkit.inference.onnx_export import build_onnx, save_onnx

    weights_sha256 = raw_config["files"][WEIGHTS_NAME]["sha256"]  # load_model_weights checked it
    candidates = onnx_cache_paths(folder, weights_sha256)
    log.debug("%s: exporting the network to ONNX for onnxruntime (once)", folder)
    model = build_onnx(network, config.preprocessing.image_size, str(folder))
    metadata = onnx_metadata(config, model_identity(folder), weights_sha256)
    reasons = []
    for candidate in candidates:
        try:
            path = save_onnx(model, candidate, metadata)
        except OSError as exc:
            reasons.append(f"{candidate.parent}: {exc.strerror or exc}")
            continue
        return OnnxEmbedder(path, config.preprocessing, batch_size)
    raise SiamkitError(f"{folder}: nowhere to cache the ONNX export ({'; '.join(reasons)})")
