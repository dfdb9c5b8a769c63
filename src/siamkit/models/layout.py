"""The names a model folder's layout may take, importable without torch (reading a config.json
must not import torch: see siamkit.inference.siamese_model's onnxruntime path)."""

HEADS = ("mlp", "none")  # a trained MLP head, or the (post-processed) features themselves
POSTPROCESS = ("none", "center", "whiten")  # the fixed map fitted on the training identities
