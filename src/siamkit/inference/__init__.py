"""Inference: :class:`SiameseModel` (embed, compare, search), ONNX export, resumable gallery embedding.

``from siamkit.inference import SiameseModel`` works; the import of torch and onnxruntime waits
until the name is first used, so ``import siamkit.inference`` stays cheap.
"""

from __future__ import annotations

__all__ = ["SiameseModel"]


def __getattr__(name: str):
    if name == "SiameseModel":
        from siamkit.inference.siamese_model import SiameseModel

        return SiameseModel
    raise AttributeError(f"module 'siamkit.inference' has no attribute {name!r}")
