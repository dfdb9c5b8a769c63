"""The one forward pass that embeds: float32 on every device, whatever autocast is around it.

:class:`siamkit.inference.embedder.TorchEmbedder` (threshold calibration, the torch backend, the
evaluation's baseline) and Lightning's validation both call :func:`float32_forward`, so the
validation score that picks the epoch, the threshold and the served distances are computed the
same way (the training steps themselves may still run in mixed precision).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    import numpy as np
    import torch

_TF32_LOCK = threading.Lock()
_tf32_state = {"users": 0, "saved": None}


@contextmanager
def full_float32(device: torch.device) -> Iterator[None]:
    """Plain IEEE float32 on a GPU too: no TF32 in convolutions or matrix products.

    cuDNN runs float32 convolutions in TF32 by default on recent GPUs (10 mantissa bits), which
    moves embeddings by about 1e-3: the threshold, chosen on float32 CPU embeddings, would then
    not be the one served. The flags are process-wide, so the first embedder in turns them off
    and the last one out restores them (the service runs several model threads at once).
    """
    if device.type != "cuda":
        yield
        return
    import torch

    with _TF32_LOCK:
        if _tf32_state["users"] == 0:
            _tf32_state["saved"] = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
            torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
        _tf32_state["users"] += 1
    try:
        yield
    finally:
        with _TF32_LOCK:
            _tf32_state["users"] -= 1
            if _tf32_state["users"] == 0:
                torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = _tf32_state["saved"]


def float32_forward(network: torch.nn.Module, images: torch.Tensor | np.ndarray, device: torch.device, channels_last: bool = True) -> torch.Tensor:
    """``network(images)`` in IEEE float32 on ``device``: no autocast (Lightning's bf16/16-mixed
    wraps validation in one), no TF32. ``images`` may be a numpy batch (same memory, no copy).
    The caller chooses the grad mode (inference_mode when serving, Lightning's when validating)."""
    import torch

    images = torch.as_tensor(images).to(device, torch.float32)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    with torch.autocast(device.type, enabled=False), full_float32(device):
        return network(images).float()
