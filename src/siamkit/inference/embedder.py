"""Turning many images into embeddings quickly: decode the next batch while the model runs.

Decoding and resizing (PIL) and the per-image arithmetic (numpy) release the GIL for most of
their work, so a small thread pool keeps the CPU busy with the next batch while the network
computes on this one, without the start-up cost and memory of worker processes.

The decode path is the folder's ``Preprocessing.eval_transform()`` written out for speed, with the
same numbers: PIL's resize (what torchvision calls for PIL images), then ``x / 255``, minus mean,
over std in float32. It writes every image straight into one NHWC batch array, which torch reads
as a channels-last NCHW tensor without a copy, and it skips torch's small-op overhead, which on a
two-core machine costs as much as the resize itself.
"""

from __future__ import annotations

import io
import os
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

import numpy as np
from PIL import Image

from siamkit.data.images import MAX_IMAGE_PIXELS, ImageDecodeError, ImageInput, load_image
from siamkit.data.preprocessing import Preprocessing
from siamkit.errors import SiamkitError

if TYPE_CHECKING:  # torch only where TorchEmbedder runs: the onnxruntime path starts without it
    import torch

_RESAMPLE = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "nearest": Image.Resampling.NEAREST,
    "lanczos": Image.Resampling.LANCZOS,
}
# JPEG decoders can scale by 1/2, 1/4 or 1/8 while decoding (Image.draft), for a fraction of the
# work: a 640x480 photo for a 160 px model costs 3.4 instead of 6.4 CPU-ms. We only let them
# shrink to 1.5x the model's input size, so the final resize still antialiases from a larger
# image. Measured on 640x480 photos (benchmarks/embed_speed.py), the embedding moves by about as
# much as re-saving the JPEG at quality 80-95 does (mean distance 0.045), and less than cropping one
# pixel. Off by default, so inference decodes exactly as training did and the model's threshold
# holds; ``SiameseModel.load(..., jpeg_draft=True)`` opts in for speed.
_DRAFT_MARGIN = 1.5


@dataclass
class DecodedBatch:
    """Preprocessed images (a channels-last NCHW float32 array: an NCHW view of NHWC memory) and
    where they came from. numpy, so the onnxruntime path never imports torch; ``torch.from_numpy``
    reads it as a channels-last tensor without a copy."""

    images: np.ndarray
    positions: list[int]  # index into the caller's list for each row of ``images``
    errors: dict[int, str] = field(default_factory=dict)  # skipped inputs: index -> reason


class ImageDecoder:
    """One image in, one normalised HxWx3 float32 array out, as ``eval_transform`` computes it."""

    def __init__(self, preprocessing: Preprocessing, draft: bool = False):
        self.size = preprocessing.image_size
        self.resample = _RESAMPLE[preprocessing.interpolation]
        self.mean = np.asarray(preprocessing.mean, dtype=np.float32)
        self.std = np.asarray(preprocessing.std, dtype=np.float32)
        self.draft = draft

    def open(self, item: ImageInput) -> Image.Image:
        if self.draft and isinstance(item, (str, os.PathLike, bytes, bytearray, memoryview)):
            drafted = self._open_drafted(item)
            if drafted is not None:
                return drafted
        return load_image(item)

    def _open_drafted(self, item) -> Image.Image | None:
        """A JPEG decoded at reduced scale, or None to take :func:`load_image`'s path (which
        also words every error, so anything unusual here simply falls back to it)."""
        try:
            if isinstance(item, (str, os.PathLike)):
                if not stat.S_ISREG(os.stat(item).st_mode):  # a FIFO would block open() forever
                    return None
                source = item
            else:
                source = io.BytesIO(bytes(item))
            with Image.open(source) as image:
                width, height = image.size
                if image.format != "JPEG" or width * height > MAX_IMAGE_PIXELS:
                    return None
                wanted = int(self.size * _DRAFT_MARGIN)  # each side is resized to ``size`` (no crop)
                image.draft("RGB", (wanted, wanted))
                image.load()
                return load_image(image)
        except Exception:  # noqa: BLE001 - load_image decodes again and reports it properly
            return None

    def __call__(self, item: ImageInput, out: np.ndarray) -> None:
        image = self.open(item)
        if image.size != (self.size, self.size):
            image = image.resize((self.size, self.size), self.resample)
        pixels = np.asarray(image, dtype=np.float32)
        np.divide(pixels, np.float32(255.0), out=out)
        out -= self.mean
        out /= self.std


def batched(items: Sequence, size: int) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def decode_batch(items: Sequence[ImageInput], decoder: ImageDecoder, pool: ThreadPoolExecutor, start: int = 0, skip_unreadable: bool = False) -> DecodedBatch:
    """Decode ``items`` in parallel; with ``skip_unreadable`` a bad image is left out, not raised."""
    array = np.empty((len(items), decoder.size, decoder.size, 3), dtype=np.float32)

    def one(row: int) -> str | None:
        try:
            decoder(items[row], array[row])
        except ImageDecodeError as exc:
            if not skip_unreadable:
                raise
            return str(exc)
        return None

    reasons = list(pool.map(one, range(len(items))))
    kept = [row for row, reason in enumerate(reasons) if reason is None]
    if len(kept) < len(items):
        array = array[kept]
    images = array.transpose(0, 3, 1, 2)  # NCHW view of NHWC memory: channels-last
    errors = {start + row: reason for row, reason in enumerate(reasons) if reason is not None}
    return DecodedBatch(images, [start + row for row in kept], errors)


def decode_threads() -> int:
    return max(2, min(8, os.cpu_count() or 2))


def pipelined_decode(
    items: Sequence[ImageInput],
    preprocessing: Preprocessing,
    batch_size: int,
    threads: int | None = None,
    skip_unreadable: bool = False,
    draft: bool = True,
) -> Iterator[DecodedBatch]:
    """Yield decoded batches, decoding batch i+1 while the caller works on batch i."""
    decoder = ImageDecoder(preprocessing, draft)
    items = list(items)
    starts = list(range(0, len(items), batch_size))
    with ThreadPoolExecutor(max_workers=threads or decode_threads()) as pool, ThreadPoolExecutor(max_workers=1) as prefetch:

        def submit(start: int):
            return prefetch.submit(decode_batch, items[start : start + batch_size], decoder, pool, start, skip_unreadable)

        pending = submit(starts[0]) if starts else None
        for index in range(len(starts)):
            batch = pending.result()
            if index + 1 < len(starts):
                pending = submit(starts[index + 1])
            yield batch


def pipelined_batches(items: Sequence[ImageInput], preprocessing: Preprocessing, batch_size: int, threads: int | None = None) -> Iterator[torch.Tensor]:
    """Yield preprocessed image tensors, decoding batch i+1 while the caller works on batch i."""
    import torch

    for batch in pipelined_decode(items, preprocessing, batch_size, threads):
        yield torch.from_numpy(batch.images)


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
            images = (torch.from_numpy(images) if isinstance(images, np.ndarray) else torch.as_tensor(images)).to(self.device, torch.float32)
            if self.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            with full_float32(self.device):
                embeddings = self.network(images).float()
            if self.normalise:
                embeddings = torch.nn.functional.normalize(embeddings, dim=1)
            return embeddings.cpu().numpy()
