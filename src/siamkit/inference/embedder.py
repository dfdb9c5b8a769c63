"""Embedders: decoded batches (siamkit.inference.decoding) in, float32 embeddings out.

:class:`BatchEmbedder` is what every backend shares (background decoding, progress, skipping
unreadable images); :class:`TorchEmbedder` is eager PyTorch in float32, the one embedder behind
threshold calibration and the torch backend; the onnxruntime one is in ``onnx_embedder``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from siamkit.data.images import ImageInput
from siamkit.data.preprocessing import Preprocessing
from siamkit.errors import SiamkitError
from siamkit.models.precision import float32_forward, full_float32  # noqa: F401  (full_float32: old import path)
from siamkit.inference.decoding import (  # noqa: F401  (imported from here by older code)
    DecodedBatch, ImageDecoder, batched, decode_batch, decode_threads, pipelined_batches, pipelined_decode,
)

if TYPE_CHECKING:  # torch only where TorchEmbedder runs: the onnxruntime path starts without it
    import torch


@dataclass
class Embedded:
    """Embeddings of the readable inputs, which input each row belongs to, and what was skipped."""

    embeddings: np.ndarray
    positions: list[int]
    errors: dict[int, str]


class BatchEmbedder:
    """What every backend shares: decode in the background, run ``embed_tensors`` per batch.

    Subclasses set ``preprocessing`` and ``batch_size`` and implement ``embed_tensors``.
    """

    preprocessing: Preprocessing
    batch_size: int
    embedding_dim: int | None = None
    draft: bool = False  # True: decode large JPEGs at reduced scale (see the note above)

    # True: ``embed_tensors`` takes the decoded numpy batch as it is (onnxruntime, never importing
    # torch); False: a torch tensor, a channels-last view of the same memory (no copy)
    takes_numpy: bool = False

    def embed_tensors(self, images: torch.Tensor) -> np.ndarray:
        raise NotImplementedError

    def embed(self, items: Sequence[ImageInput], progress: bool = False, description: str = "embedding") -> np.ndarray:
        """(n, D) float32 embeddings; an unreadable image raises, naming the file."""
        if len(items) == 0:
            raise SiamkitError("nothing to embed: the list of images is empty")
        return self._run(items, progress, description, skip_unreadable=False).embeddings

    def embed_readable(self, items: Sequence[ImageInput], progress: bool = False, description: str = "embedding") -> Embedded:
        """Like :meth:`embed`, but images that cannot be decoded are skipped and reported."""
        return self._run(items, progress, description, skip_unreadable=True)

    def _run(self, items, progress, description: str, skip_unreadable: bool) -> Embedded:
        from siamkit.io.terminal import progress_bar

        outputs, positions, errors = [], [], {}
        with progress_bar(progress, len(items), description) as bar:
            for batch in pipelined_decode(items, self.preprocessing, self.batch_size, skip_unreadable=skip_unreadable, draft=self.draft):
                if len(batch.positions):
                    outputs.append(self.embed_tensors(batch.images if self.takes_numpy else _as_tensor(batch.images)))
                positions.extend(batch.positions)
                errors.update(batch.errors)
                bar.update(len(batch.positions) + len(batch.errors))
        width = outputs[0].shape[1] if outputs else (self.embedding_dim or 0)
        embeddings = np.concatenate(outputs).astype(np.float32, copy=False) if outputs else np.zeros((0, width), np.float32)
        return Embedded(embeddings, positions, errors)


def _as_tensor(images: np.ndarray) -> torch.Tensor:
    import torch

    return torch.from_numpy(images)


class TorchEmbedder(BatchEmbedder):
    """Eager-PyTorch inference: decode -> preprocess -> network -> (L2 normalise), in float32.

    The one embedder behind threshold calibration, ``SiameseModel``'s torch backend and the
    evaluation's untrained baseline, so a distance means the same in each. Float32 on every
    device (no float16 autocast on a GPU): the threshold is chosen on float32 embeddings, and a
    model folder may be served anywhere. ``normalise=True`` is for a bare backbone; a
    :class:`SiameseNetwork`'s head already ends in L2 normalisation.
    """

    backend = "torch"

    def __init__(
        self,
        network: torch.nn.Module,
        preprocessing: Preprocessing,
        device: str | torch.device = "cpu",
        batch_size: int = 64,
        normalise: bool = False,
    ):
        import torch

        self.device = torch.device(device)
        self.channels_last = True
        self.network = network.eval().to(self.device)
        if self.channels_last:
            self.network = self.network.to(memory_format=torch.channels_last)
        self.preprocessing = preprocessing
        self.batch_size = batch_size
        self.normalise = normalise

    def embed_tensors(self, images: torch.Tensor | np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            embeddings = float32_forward(self.network, images, self.device, self.channels_last)
            if self.normalise:
                embeddings = torch.nn.functional.normalize(embeddings, dim=1)
            return embeddings.cpu().numpy()
