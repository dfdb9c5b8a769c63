"""siamkit: train, evaluate and serve Siamese networks for image similarity.

The package follows the data from disk to answers:

* ``data``        images on disk -> identities (leaf folders) -> identity-disjoint splits
* ``sampling``    pairs, triplets and M-per-class batches for training
* ``models``      a timm backbone + embedding head (``SiameseNetwork``); the model folder
                  (``config.json`` + ``model.safetensors``)
* ``training``    losses, miners and the Lightning loop -> ``run/model``
* ``evaluation``  verification, retrieval and one-shot metrics, plots, the HTML report
* ``inference``   ``SiameseModel``: load a model folder, ``embed``, ``compare``, ``index``,
                  ``search``, ``export_onnx`` (PyTorch or onnxruntime)
* ``search``      ``GalleryIndex``: FAISS over embeddings, saved in one self-checking file;
                  ``GalleryShard`` / ``merge_shards`` for galleries embedded in parts
* ``service``     the web service; ``cli`` the ``siamkit`` command, both thin layers over the above

Examples (load a model folder, ``compare``, ``embed``, build and search a gallery index, train,
evaluate, register your own loss) are in README.md's "Python" section, and the HTTP endpoints in
its "HTTP API" section; ``tests/test_readme.py`` runs or checks every one of them, so they stay true.

Names are imported on first use, so ``import siamkit`` stays quick (no torch until needed).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from siamkit.version import __version__

# public name -> module that defines it
_EXPORTS = {
    "SiameseModel": "siamkit.inference.siamese_model",
    "Comparison": "siamkit.inference.siamese_model",
    "BoundGalleryIndex": "siamkit.inference.gallery",
    "ShardSpec": "siamkit.inference.gallery_shards",
    "list_gallery": "siamkit.inference.gallery_shards",
    "embed_gallery_shard": "siamkit.inference.gallery_shards",
    "GalleryIndex": "siamkit.search",
    "GalleryShard": "siamkit.search",
    "merge_shards": "siamkit.search",
    "INDEX_KINDS": "siamkit.search",
    "content_hash": "siamkit.search",
    "SiameseNetwork": "siamkit.models.network",
    "ModelConfig": "siamkit.models.model_folder",
    "save_model_folder": "siamkit.models.model_folder",
    "Preprocessing": "siamkit.data.preprocessing",
    "scan_dataset": "siamkit.data.dataset",
    "ImageDataset": "siamkit.data.dataset",
    "load_image": "siamkit.data.images",
    "train": "siamkit.pipelines.training_run",
    "TrainResult": "siamkit.pipelines.training_run",
    "train_and_evaluate": "siamkit.pipelines.train_and_evaluate",
    "load_config": "siamkit.training.config",
    "TrainConfig": "siamkit.training.config",
    "evaluate_model_folder": "siamkit.pipelines.evaluation_run",
    "evaluate_embeddings": "siamkit.evaluation.summary",
    "SiamkitError": "siamkit.errors",
    "LOSSES": "siamkit.losses",
    "MINERS": "siamkit.losses",
    "SAMPLERS": "siamkit.sampling",
    "READERS": "siamkit.data.readers",
    "BACKBONES": "siamkit.models.backbone",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:  # for editors and type checkers; at run time names load lazily
    from siamkit.data.dataset import ImageDataset, scan_dataset
    from siamkit.data.readers import READERS
    from siamkit.data.images import load_image
    from siamkit.data.preprocessing import Preprocessing
    from siamkit.errors import SiamkitError
    from siamkit.pipelines.evaluation_run import evaluate_model_folder
    from siamkit.evaluation.summary import evaluate_embeddings
    from siamkit.inference.gallery import BoundGalleryIndex
    from siamkit.inference.gallery_shards import ShardSpec, embed_gallery_shard, list_gallery
    from siamkit.inference.siamese_model import Comparison, SiameseModel
    from siamkit.losses import LOSSES, MINERS
    from siamkit.models.backbone import BACKBONES
    from siamkit.models.model_folder import ModelConfig, save_model_folder
    from siamkit.models.network import SiameseNetwork
    from siamkit.sampling import SAMPLERS
    from siamkit.search import INDEX_KINDS, GalleryIndex, GalleryShard, content_hash, merge_shards
    from siamkit.training.config import TrainConfig, load_config
    from siamkit.pipelines.train_and_evaluate import train_and_evaluate
    from siamkit.pipelines.training_run import TrainResult, train


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'siamkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
