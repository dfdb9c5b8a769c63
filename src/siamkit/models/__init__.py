"""Models: pretrained backbones and the heads that turn their features into embeddings.

The names below load on first use (PEP 562), so importing ``siamkit.models.model_folder`` to read
a config does not import torch.
"""

__all__ = [
    "OFFLINE_BACKBONES",
    "load_offline_state_dict",
    "lukemelas_to_timm",
    "offline_weights_path",
]


def __getattr__(name: str):
    if name in __all__:
        from siamkit.models import offline_weights

        return getattr(offline_weights, name)
    raise AttributeError(f"module 'siamkit.models' has no attribute {name!r}")
