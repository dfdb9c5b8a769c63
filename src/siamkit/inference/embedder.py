"""Turning many images into embeddings quickly: decode the next batch while the model runs.

Decoding and resizing (PIL, torchvision) release the GIL for most of their work, so a small
thread pool keeps the CPU busy with the next batch while the network computes on this one,
without the start-up cost and memory of worker processes.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Sequence

import numpy as np
import torch

from siamkit.data.images import ImageInput, load_image
from siamkit.data.preprocessing import Preprocessing
from siamkit.errors import SiamkitError


def decode_batch(items: Sequence[ImageInput], transform: Callable, pool: ThreadPoolExecutor) -> torch.Tensor:
    return torch.stack(list(pool.map(lambda item: transform(load_image(item)), items)))


def batched(items: Sequence, size: int) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def pipelined_batches(items: Sequence[ImageInput], preprocessing: Preprocessing, batch_size: int, threads: int | None = None):
    """Yield preprocessed batches, decoding batch i+1 while the caller works on batch i."""
    transform = preprocessing.eval_transform()
    threads = threads or max(2, min(8, (os.cpu_count() or 2)))
    with ThreadPoolExecutor(max_workers=threads) as pool, ThreadPoolExecutor(max_workers=1) as prefetch:
        chunks = list(batched(list(items), batch_size))
        pending = prefetch.submit(decode_batch, chunks[0], transform, pool) if chunks else None
        for index in range(len(chunks)):
            batch = pending.result()
            if index + 1 < len(chunks):
                pending = prefetch.submit(decode_batch, chunks[index + 1], transform, pool)
            yield batch


class TorchEmbedder:
    """Eager-PyTorch inference for a :class:`SiameseNetwork` (channels_last on CPU)."""

    def __init__(self, network: torch.nn.Module, preprocessing: Preprocessing, device: str | torch.device = "cpu", batch_size: int = 64):
        self.device = torch.device(device)
        self.channels_last = True
        self.network = network.eval().to(self.device)
        if self.channels_last:
            self.network = self.network.to(memory_format=torch.channels_last)
        self.preprocessing = preprocessing
        self.batch_size = batch_size

    @torch.inference_mode()
    def embed_tensors(self, images: torch.Tensor) -> np.ndarray:
        images = images.to(self.device)
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        if self.device.type == "cuda":
            with torch.autocast("cuda", dtype=torch.float16):
                return self.network(images).float().cpu().numpy()
        return self.network(images).float().cpu().numpy()

    def embed(self, items: Sequence[ImageInput], progress: bool = False, description: str = "embedding") -> np.ndarray:
        from tqdm.auto import tqdm

        outputs = []
        with tqdm(total=len(items), desc=description, unit="img", disable=not progress, leave=False) as bar:
            for batch in pipelined_batches(items, self.preprocessing, self.batch_size):
                outputs.append(self.embed_tensors(batch))
                bar.update(len(batch))
        if not outputs:
            raise SiamkitError("nothing to embed: the list of images is empty")
        return np.concatenate(outputs).astype(np.float32)
