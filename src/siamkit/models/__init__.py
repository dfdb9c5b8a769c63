"""Models: pretrained backbones and the heads that turn their features into embeddings."""

from siamkit.models.offline_weights import (
    OFFLINE_BACKBONES,
    load_offline_state_dict,
    lukemelas_to_timm,
    offline_weights_path,
)

__all__ = [
    "OFFLINE_BACKBONES",
    "load_offline_state_dict",
    "lukemelas_to_timm",
    "offline_weights_path",
]
