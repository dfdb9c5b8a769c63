"""A trained model on disk: ``config.json`` next to ``model.safetensors``.

The folder describes itself (backbone, image size, preprocessing, embedding size, distance,
threshold, versions), so inference needs nothing but the folder — not the training config, not
timm's guess of the preprocessing. Weights are safetensors: loading never unpickles code. The
config carries a SHA-256 of the weights, so a truncated or swapped file is refused instead of
half-loaded into a model that then gives confident nonsense.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from typing import TYPE_CHECKING

from siamkit.data.preprocessing import Preprocessing
from siamkit.errors import SiamkitError
from siamkit.io.atomic import atomic_path, write_text_atomic
from siamkit.version import MODEL_FORMAT_VERSION, __version__

if TYPE_CHECKING:  # torch is imported by the functions that read or write tensors, not to read a config
    import torch

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


@dataclass
class ModelConfig:
    backbone: str
    preprocessing: Preprocessing
    embedding_dim: int
    hidden_dim: int = 512
    loss: str = "triplet"
    margin: float = 1.0
    pair_head: bool = False
    threshold: float = 1.0
    threshold_rule: str = "max_accuracy"
    distance: str = "euclidean"
    training: dict = field(default_factory=dict)
    # How the embedding is computed (older folders have none of these keys: the defaults are
    # what every earlier model did). embedding_dim is the final size; head_dim the trained
    # head's output, before the post-processing map.
    head: str = "mlp"
    head_dim: int | None = None
    feature_block: int = -1
    feature_grid: int = 1
    flip_average: bool = False
    zoom_average: float = 0.0
    postprocess: str = "none"

    def network_layout(self) -> dict:
        """The keyword arguments of :class:`SiameseNetwork` this folder describes."""
        return {
            "head": self.head,
            "feature_block": self.feature_block,
            "feature_grid": self.feature_grid,
            "flip_average": self.flip_average,
            "zoom_average": self.zoom_average,
            "postprocess_dim": self.embedding_dim if self.postprocess != "none" else 0,
        }

    def to_dict(self) -> dict:
        return {
            "format_version": MODEL_FORMAT_VERSION,
            "siamkit_version": __version__,
            "backbone": self.backbone,
            "image_size": self.preprocessing.image_size,
            "preprocessing": self.preprocessing.to_dict(),
            "embedding_dim": self.embedding_dim,
            "hidden_dim": self.hidden_dim,
            "distance": self.distance,
            "similarity": "(1 + cosine) / 2",
            "loss": self.loss,
            "margin": self.margin,
            "pair_head": self.pair_head,
            "threshold": self.threshold,
            "threshold_rule": self.threshold_rule,
            "head": self.head,
            "head_dim": self.head_dim if self.head_dim is not None else self.embedding_dim,
            "features": {"block": self.feature_block, "grid": self.feature_grid},
            "flip_average": self.flip_average,
            "zoom_average": self.zoom_average,
            "postprocess": self.postprocess,
            "training": self.training,
        }

    @classmethod
    def from_dict(cls, data: dict, source: str) -> "ModelConfig":
        version = data.get("format_version")
        if version != MODEL_FORMAT_VERSION:
            raise SiamkitError(
                f"{source}: model folder format {version} (siamkit {data.get('siamkit_version', '?')}) "
                f"is not supported by siamkit {__version__} (format {MODEL_FORMAT_VERSION})"
            )
        try:
            config = cls(
                backbone=data["backbone"],
                preprocessing=Preprocessing.from_dict(data["preprocessing"]),
                embedding_dim=int(data["embedding_dim"]),
                hidden_dim=int(data.get("hidden_dim", 512)),
                loss=data.get("loss", "triplet"),
                margin=float(data.get("margin", 1.0)),
                pair_head=bool(data.get("pair_head", False)),
                threshold=float(data["threshold"]),
                threshold_rule=data.get("threshold_rule", "max_accuracy"),
                distance=data.get("distance", "euclidean"),
                training=data.get("training", {}),
                head=str(data.get("head", "mlp")),
                head_dim=int(data.get("head_dim", data["embedding_dim"])),
                feature_block=int((data.get("features") or {}).get("block", -1)),
                feature_grid=int((data.get("features") or {}).get("grid", 1)),
                flip_average=bool(data.get("flip_average", False)),
                zoom_average=float(data.get("zoom_average", 0.0)),
                postprocess=str(data.get("postprocess", "none")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SiamkitError(f"{source}: config.json is missing or has a bad value for {exc}") from None
        config.check(source)
        return config

    def check(self, source: str) -> None:
        """Values that would otherwise fail deep inside torch, or load and give nonsense."""
        import math

        sizes = {"embedding_dim": self.embedding_dim, "hidden_dim": self.hidden_dim, "image_size": self.preprocessing.image_size}
        for key, value in sizes.items():
            if value <= 0:
                raise SiamkitError(f"{source}: config.json has {key} {value}; it must be positive")
        channels = self.preprocessing.in_chans
        if channels not in (1, 3) or len(self.preprocessing.mean) != channels or len(self.preprocessing.std) != channels:
            raise SiamkitError(
                f"{source}: config.json has preprocessing for {channels} input channel(s) with "
                f"{len(self.preprocessing.mean)} mean and {len(self.preprocessing.std)} std value(s); want 1 or 3 of each"
            )
        from siamkit.models.layout import HEADS, POSTPROCESS

        if self.head not in HEADS:
            raise SiamkitError(f"{source}: config.json has head '{self.head}'; this siamkit knows {', '.join(HEADS)}")
        if self.postprocess not in POSTPROCESS:
            raise SiamkitError(f"{source}: config.json has postprocess '{self.postprocess}'; this siamkit knows {', '.join(POSTPROCESS)}")
        if self.feature_grid <= 0 or self.feature_block < -1:
            raise SiamkitError(f"{source}: config.json has features block {self.feature_block} grid {self.feature_grid}")
        if not (math.isfinite(self.zoom_average) and 0 <= self.zoom_average < 1):
            raise SiamkitError(f"{source}: config.json has zoom_average {self.zoom_average}; want 0 (off) or a fraction below 1")
        if not math.isfinite(self.threshold):
            raise SiamkitError(f"{source}: config.json has threshold {self.threshold}; it must be a finite number")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_model_folder(folder: str | os.PathLike, config: ModelConfig, state_dict: dict[str, torch.Tensor]) -> Path:
    """Write weights first, then the config that vouches for them (each atomically)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state_dict.items()}
    with atomic_path(folder / WEIGHTS_NAME) as temporary:
        save_file(tensors, temporary, metadata={"format": "pt", "siamkit_version": __version__})
        checksum = _sha256(Path(temporary))
    data = config.to_dict()
    data["files"] = {WEIGHTS_NAME: {"sha256": checksum}}
    write_text_atomic(folder / CONFIG_NAME, json.dumps(data, indent=2))
    return folder


def read_model_config(folder: str | os.PathLike) -> tuple[ModelConfig, dict]:
    folder = Path(folder)
    config_path = folder / CONFIG_NAME
    if not folder.is_dir():
        raise SiamkitError(f"{folder}: model folder not found")
    if not config_path.is_file():
        raise SiamkitError(f"{folder}: not a siamkit model folder (no {CONFIG_NAME})")
    try:
        raw = json.loads(config_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise SiamkitError(f"{config_path}: not valid JSON (truncated or edited?)") from None
    if not isinstance(raw, dict):
        raise SiamkitError(f"{config_path}: not a siamkit model config")
    return ModelConfig.from_dict(raw, str(folder)), raw


def verify_model_weights(folder: str | os.PathLike, raw_config: dict) -> Path:
    """The weights file, after checking it against the checksum in config.json (no torch needed)."""
    weights = Path(folder) / WEIGHTS_NAME
    if not weights.is_file():
        raise SiamkitError(f"{folder}: {WEIGHTS_NAME} is missing")
    files = raw_config.get("files")
    entry = files.get(WEIGHTS_NAME) if isinstance(files, dict) else None
    expected = entry.get("sha256") if isinstance(entry, dict) else None
    if not isinstance(expected, str):
        raise SiamkitError(f"{folder}: config.json has no checksum for {WEIGHTS_NAME}")
    if _sha256(weights) != expected:
        raise SiamkitError(f"{weights}: checksum does not match config.json (file truncated or replaced)")
    return weights


def load_model_weights(folder: str | os.PathLike, raw_config: dict) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights = verify_model_weights(folder, raw_config)
    try:
        return load_file(str(weights))
    except (SafetensorError, OSError) as exc:
        raise SiamkitError(f"{weights}: cannot read weights ({exc})") from None


def model_identity(folder: str | os.PathLike) -> str:
    """A short fingerprint of config + weights: an index built by one model refuses another."""
    folder = Path(folder)
    digest = hashlib.sha256()
    digest.update((folder / CONFIG_NAME).read_bytes())
    return digest.hexdigest()[:16]
