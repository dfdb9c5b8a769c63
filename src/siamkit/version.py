"""The package version, also written into every model folder and index."""

__version__ = "0.1.0"

# Bumped when the layout of config.json / model.safetensors changes incompatibly.
MODEL_FORMAT_VERSION = 1
