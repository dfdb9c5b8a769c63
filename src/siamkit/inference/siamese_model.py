"""``SiameseModel``: the one object for using a trained model folder.

The CLI, the web service, the evaluation and the benchmarks all go through it, so "how alike
are these two images" has exactly one implementation: embed with the folder's own
preprocessing, Euclidean distance between unit vectors, the folder's validation threshold.

Two backends compute the same embeddings: eager PyTorch in float32 on every device (the
embedder and precision that threshold calibration uses, see :mod:`siamkit.inference.embedder`),
and onnxruntime on an ONNX export of the network, which is usually faster on a CPU and agrees
with PyTorch within 1e-5 (tests/inference/test_one_embedding_path.py). ``backend="auto"`` uses
onnxruntime on CPU when it is installed. The export is made once and cached as
``model.onnx`` in the model folder (or in the user's cache folder when the model folder is
read-only); it carries the checksum of the weights it came from, so a stale export is redone,
never used.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
from PIL import Image

from siamkit.data.images import ImageInput
from siamkit.distances import distance_to_similarity, embedding_distance
from siamkit.errors import SiamkitError
from siamkit.inference.onnx_cache import cached_onnx, exported_onnx_embedder, onnx_cache_paths, onnx_metadata
from siamkit.models.model_folder import (
    WEIGHTS_NAME, ModelConfig, load_model_weights, model_identity, read_model_config, verify_model_weights,
)

if TYPE_CHECKING:  # torch and timm load only when the torch network is needed: a model whose
    import torch  # ONNX export is cached answers on onnxruntime without them (issue 16 item 7)

    from siamkit.models.network import SiameseNetwork

log = logging.getLogger("siamkit")

BACKENDS = ("auto", "onnx", "torch")
_SINGLE_INPUT = (str, os.PathLike, bytes, bytearray, memoryview, np.ndarray, Image.Image)


@dataclass(frozen=True)
class Comparison:
    distance: float
    similarity: float
    same: bool
    threshold: float

    def to_dict(self) -> dict:
        return {"distance": self.distance, "similarity": self.similarity, "same": self.same, "threshold": self.threshold}


class SiameseModel:
    """A trained model: ``embed`` images, ``compare`` two, ``index`` a gallery and ``search`` it."""

    def __init__(
        self,
        network: SiameseNetwork | Callable[[], SiameseNetwork],
        config: ModelConfig,
        folder: Path | None = None,
        device: str = "cpu",
        batch_size: int = 64,
        embedder=None,
        jpeg_draft: bool = False,
    ):
        """``network``: the network, or a function that builds it when it is first needed (with an
        ``embedder`` given, embedding never needs it)."""
        from siamkit.inference.embedder import TorchEmbedder

        if callable(network) and not hasattr(network, "state_dict"):
            self._network, self._build_network = None, network
        else:
            self._network, self._build_network = network.eval(), None
        self.config = config
        self.folder = folder
        self.device = device
        self.batch_size = batch_size
        self.model_id = model_identity(folder) if folder is not None else "unsaved"
        self.weights_sha256: str | None = None  # set by load(); marks exports of these weights
        self._embedder = embedder or TorchEmbedder(self.network, config.preprocessing, device, batch_size)
        self._embedder.draft = jpeg_draft  # see siamkit.inference.embedder: fast JPEG decoding

    @property
    def network(self) -> SiameseNetwork:
        """The PyTorch network (built from the folder on first use when the model was loaded
        for onnxruntime from a cached export)."""
        if self._network is None:
            self._network = self._build_network().eval()
        return self._network

    @property
    def backend(self) -> str:
        """Which backend computes the embeddings: "torch" or "onnx"."""
        return self._embedder.backend

    @classmethod
    def load(
        cls, folder: str | os.PathLike, device: str = "cpu", batch_size: int = 64, backend: str = "auto", jpeg_draft: bool = False
    ) -> "SiameseModel":
        """Read a model folder. ``backend``: "auto" (onnxruntime on CPU when installed, else
        PyTorch), "onnx" or "torch". ``jpeg_draft=True`` decodes large JPEGs at reduced scale,
        about twice as fast to decode but not exactly as training did (off by default)."""
        if backend not in BACKENDS:
            raise SiamkitError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        folder = Path(folder)
        config, raw = read_model_config(folder)

        def load_network() -> SiameseNetwork:
            network = build_network(config)
            weights = load_model_weights(folder, raw)
            try:
                network.load_state_dict(weights, strict=True)
            except RuntimeError as exc:
                first = str(exc).splitlines()[0]
                raise SiamkitError(f"{folder}: weights do not match config.json ({first})") from None
            return network

        network, embedder = load_network, None  # built when first needed (at once for the torch backend)
        if backend == "onnx" or (backend == "auto" and str(device) == "cpu" and _onnxruntime_available()):
            if backend == "onnx" and str(device) != "cpu":
                raise SiamkitError(f"backend onnx runs on the CPU; use backend torch for device {device}")
            verify_model_weights(folder, raw)  # a damaged folder fails the same way on every path
            embedder = cached_onnx(config, folder, raw, batch_size)  # no torch: seconds less to start
            if embedder is None:
                network = load_network()
                try:
                    embedder = exported_onnx_embedder(network, config, folder, raw, batch_size)
                except SiamkitError as exc:
                    if backend == "onnx":
                        raise
                    log.warning("using PyTorch instead of onnxruntime: %s", exc)
        model = cls(network, config, folder, device, batch_size, embedder, jpeg_draft)
        model.weights_sha256 = raw["files"][WEIGHTS_NAME]["sha256"]
        return model

    @property
    def threshold(self) -> float:
        return self.config.threshold

    @property
    def embedding_dim(self) -> int:
        return self.config.embedding_dim

    @property
    def onnx_path(self) -> Path | None:
        """The ONNX file the onnx backend runs (None with the torch backend)."""
        return getattr(self._embedder, "path", None)

    def __repr__(self) -> str:
        return f"SiameseModel({self.folder or 'unsaved'}, backbone={self.config.backbone}, D={self.embedding_dim}, backend={self.backend})"

    # ----------------------------------------------------------------- embedding and comparing

    def embed(self, images: Sequence[ImageInput] | ImageInput, progress: bool = False) -> np.ndarray:
        """L2-normalised embeddings, shape (n, D); a single input gives (1, D).

        Inputs are paths, encoded bytes, numpy arrays or PIL images (a 4-D array is a batch of
        images); an unreadable one raises SiamkitError naming it.
        """
        if isinstance(images, np.ndarray) and images.ndim == 4:
            items = list(images)
        else:
            items = [images] if isinstance(images, _SINGLE_INPUT) else list(images)
        return self._embedder.embed(items, progress=progress)

    def embed_readable(self, images: Sequence[ImageInput], progress: bool = False, description: str = "embedding"):
        """Embeddings of the inputs that decode, which inputs those were, and why others did not
        (an :class:`~siamkit.inference.embedder.Embedded`)."""
        return self._embedder.embed_readable(list(images), progress=progress, description=description)

    def compare(self, first: ImageInput, second: ImageInput) -> Comparison:
        embeddings = self.embed([first, second])
        return self.compare_embeddings(embeddings[0], embeddings[1])

    def compare_embeddings(self, first: np.ndarray, second: np.ndarray) -> Comparison:
        """``compare`` for two embeddings this model already made (the service embeds its
        uploads in shared batches, then calls this): one formula for both, and the one the
        threshold was chosen with (:mod:`siamkit.distances`, after normalising, as evaluation does)."""
        distance = float(embedding_distance(first, second))
        return Comparison(distance, float(distance_to_similarity(distance)), distance <= self.threshold, self.threshold)

    def embed_tensors(self, images: torch.Tensor) -> np.ndarray:
        """Embeddings of already-preprocessed images (benchmarks, the service's batcher)."""
        return self._embedder.embed_tensors(images)

    # ----------------------------------------------------------------- galleries

    def index(self, gallery, kind: str | None = None, existing=None, progress: bool = False, **params):
        """A :class:`BoundGalleryIndex` over every image under ``gallery`` (a folder, or a list
        of image files); labels are the images' folders.

        With ``existing`` (an index built by this model) only new or changed files are embedded,
        deleted ones are removed, and ``existing`` itself is updated. ``kind``: "exact"
        (default), "hnsw" or "ivf"; ``params`` go to ``GalleryIndex.build``.
        """
        from siamkit.inference.gallery import build_gallery_index

        return build_gallery_index(self, gallery, kind=kind, existing=existing, progress=progress, **params)

    def bind(self, index):
        """The same index, searchable with images; refuses an index built by another model."""
        from siamkit.inference.gallery import BoundGalleryIndex

        return BoundGalleryIndex.bind(index, self)

    def search(self, index, query, k: int = 10):
        """Hits ``[{id, path, label, distance, similarity}]`` for one query image (a list of such
        lists for a list of images), best first. ``index``: a GalleryIndex or the path of an index file."""
        from siamkit.search import GalleryIndex

        if isinstance(index, (str, os.PathLike)):
            index = GalleryIndex.load(index)
        elif not isinstance(index, GalleryIndex):
            raise SiamkitError(f"model.search: index must be a GalleryIndex or an index file's path, got {type(index).__name__}")
        return self.bind(index).search(query, k)

    # ----------------------------------------------------------------- export

    def export_onnx(self, path: str | os.PathLike) -> Path:
        """Write the network as ONNX: ``images`` (N, C, S, S) -> ``embeddings`` (N, D) (C: 1 for a grey-scale backbone, else 3), unit length.

        A checked export of these weights already in the cache is copied instead of redone.
        """
        from siamkit.inference.onnx_export import build_onnx, read_fresh_onnx, save_onnx

        model = None
        if self.folder is not None and self.weights_sha256:
            for candidate in onnx_cache_paths(self.folder, self.weights_sha256):
                model = model or read_fresh_onnx(candidate, self.weights_sha256)
        if model is None:
            model = build_onnx(self.network, self.config.preprocessing.image_size, str(path))
        try:
            return save_onnx(model, path, self._onnx_metadata())
        except OSError as exc:
            raise SiamkitError(f"{path}: cannot write the ONNX file ({exc.strerror or exc})") from None

    def _onnx_metadata(self) -> dict[str, str]:
        return onnx_metadata(self.config, self.model_id, self.weights_sha256)


def build_network(config: ModelConfig) -> SiameseNetwork:
    """The architecture a model folder describes, with no pretrained weights (they come from the folder)."""
    from siamkit.models.backbone import create_backbone
    from siamkit.models.network import SiameseNetwork

    backbone = create_backbone(config.backbone, "none")
    from siamkit.models.backbone import input_channels

    if input_channels(backbone) != config.preprocessing.in_chans:
        raise SiamkitError(
            f"config.json: backbone '{config.backbone}' reads {input_channels(backbone)} channel(s) but the "
            f"preprocessing says {config.preprocessing.in_chans}; the model folder does not fit this backbone"
        )
    head_dim = config.head_dim if config.head_dim is not None else config.embedding_dim
    return SiameseNetwork(backbone, head_dim, config.hidden_dim, pair_head=config.pair_head, **config.network_layout())


def _onnxruntime_available() -> bool:
    from siamkit.inference.onnx_embedder import onnxruntime_available

    return onnxruntime_available()
