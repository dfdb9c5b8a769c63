"""Decoding many images fast: the next batch is decoded in threads while the model runs.

Decoding and resizing (PIL) and the per-image arithmetic (numpy) release the GIL for most of
their work, so a small thread pool keeps the CPU busy with the next batch while the network
computes on this one, without the start-up cost and memory of worker processes.

The decode path is the folder's ``Preprocessing.eval_transform()`` written out for speed, with the
same numbers: PIL's resize (what torchvision calls for PIL images), then ``x / 255``, minus mean,
over std in float32. It writes every image straight into one NHWC batch array, which torch reads
as a channels-last NCHW tensor without a copy (onnxruntime takes it as numpy, so that path never
imports torch), and it skips torch's small-op overhead, which on a two-core machine costs as much
as the resize itself.
"""

from __future__ import annotations

import io
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

import numpy as np
from PIL import Image

from siamkit.data.images import MAX_IMAGE_PIXELS, ImageDecodeError, ImageInput, load_image
from siamkit.data.preprocessing import Preprocessing

if TYPE_CHECKING:
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
