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

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

import numpy as np

from siamkit.data.decoder import _DRAFT_MARGIN, _RESAMPLE, ImageDecoder  # noqa: F401  (moved; old import path)
from siamkit.data.images import ImageDecodeError, ImageInput
from siamkit.data.preprocessing import Preprocessing

if TYPE_CHECKING:
    import torch


@dataclass
class DecodedBatch:
    """Preprocessed images (a channels-last NCHW float32 array: an NCHW view of NHWC memory) and
    where they came from. numpy, so the onnxruntime path never imports torch; ``torch.from_numpy``
    reads it as a channels-last tensor without a copy."""

    images: np.ndarray
    positions: list[int]  # index into the caller's list for each row of ``images``
    errors: dict[int, str] = field(default_factory=dict)  # skipped inputs: index -> reason


def batched(items: Sequence, size: int) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def decode_batch(items: Sequence[ImageInput], decoder: ImageDecoder, pool: ThreadPoolExecutor, start: int = 0, skip_unreadable: bool = False) -> DecodedBatch:
    """Decode ``items`` in parallel; with ``skip_unreadable`` a bad image is left out, not raised."""
    array = np.empty((len(items), decoder.size, decoder.size, decoder.channels), dtype=np.float32)

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
