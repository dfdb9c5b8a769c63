"""onnxruntime inference with the same interface as :class:`TorchEmbedder`.

``embed(items, progress)`` decodes in background threads (``pipelined_decode``) while
onnxruntime runs the previous batch; ``embed_tensors`` takes already-preprocessed images.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from siamkit.data.preprocessing import Preprocessing
from siamkit.errors import SiamkitError
from siamkit.inference.embedder import BatchEmbedder
from siamkit.inference.onnx_export import INPUT_NAME, OUTPUT_NAME


def default_threads() -> int:
    """PyTorch's intra-op thread count where torch is loaded already; otherwise what it would pick
    (one per CPU this process may run on), without importing torch for it."""
    if "torch" in sys.modules:
        return sys.modules["torch"].get_num_threads()
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


class OnnxEmbedder(BatchEmbedder):
    """Embeddings from an ONNX file written by :mod:`siamkit.inference.onnx_export`."""

    backend = "onnx"
    takes_numpy = True

    def __init__(self, model_path: str | os.PathLike, preprocessing: Preprocessing, batch_size: int = 64, threads: int | None = None):
        try:
            import onnxruntime
        except ImportError:
            raise SiamkitError("backend onnx: onnxruntime is not installed (pip install onnxruntime), or use backend torch") from None
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # its warnings are about graph internals, not the user's input
        # As many threads as PyTorch would use, so switching backends does not change the load.
        options.intra_op_num_threads = threads or default_threads()
        # Idle threads sleep instead of spinning: the decode threads need those cycles (on two
        # busy cores this was 15% more images/s from files, and no slower on tensors).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.path = Path(model_path)
        try:
            self.session = onnxruntime.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception classes
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SiamkitError(f"{self.path}: onnxruntime cannot load this file ({first[:200]})") from None
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        self.preprocessing = preprocessing
        self.batch_size = batch_size

    def embed_tensors(self, images) -> np.ndarray:
        if not isinstance(images, np.ndarray):  # a torch tensor
            images = images.detach().cpu().numpy()
        array = np.ascontiguousarray(images, dtype=np.float32)  # NCHW in row-major order
        (embeddings,) = self.session.run([OUTPUT_NAME], {INPUT_NAME: array})
        return embeddings
