"""What the request handlers share: the model, the gallery, the batcher and the decode threads."""

from __future__ import annotations

import asyncio
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from fastapi import Request, UploadFile

from siamkit.data.decoder import ImageDecoder
from siamkit.inference.siamese_model import SiameseModel
from siamkit.search import GalleryIndex
from siamkit.service.batching import DirectEmbedder, MicroBatcher
from siamkit.service.settings import LARGE_IMAGE_PIXELS, ServiceSettings
from siamkit.service.uploads import decode_upload, read_upload, upload_name


class ServiceState:
    """What the request handlers share: the model, the gallery, the batcher and the decode threads."""

    def __init__(self, model: SiameseModel, index: GalleryIndex | None, settings: ServiceSettings, gallery=None, keys=None):
        self.model = model
        self.index = index
        self.settings = settings
        self.gallery = gallery  # a LiveGallery over a store (siamkit.gallery), or None
        self.keys = keys  # a KeyFile, or None: writes refused
        # Database calls wait on I/O and locks: threads of their own, never the decode threads.
        self.store_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="siamkit-store")
        cores = os.cpu_count() or 2
        # The decoder every embedder uses (numpy, no torch ops): an upload is the same input as a file.
        self.decoder = ImageDecoder(self.model.config.preprocessing)
        embed = self.model.embed_tensors
        # Each call uses torch.get_num_threads() cores (onnxruntime reads the same setting).
        workers = self.settings.model_workers or max(1, cores // torch.get_num_threads())
        self.embedder: MicroBatcher | DirectEmbedder
        if self.settings.batching:
            self.embedder = MicroBatcher(embed, self.settings.max_batch, self.settings.batch_wait_ms, workers)
        else:
            self.embedder = DirectEmbedder(embed, workers)
        self.decode_threads = self.settings.decode_threads or max(2, min(4, cores))
        self.decode_pool = ThreadPoolExecutor(max_workers=self.decode_threads, thread_name_prefix="siamkit-decode")
        self.large_image_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="siamkit-decode-large")

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(self.decode_pool, time.sleep, 0.01) for _ in range(self.decode_threads)))
        size, channels = self.model.config.preprocessing.image_size, self.model.config.preprocessing.in_chans
        # The first forward pass allocates and plans; do it before the first request waits for it.
        await loop.run_in_executor(None, self.model.embed_tensors, np.zeros((1, channels, size, size), np.float32))
        await self.embedder.start()
        if self.gallery is not None:
            self.gallery.start()

    async def stop(self) -> None:
        if self.gallery is not None:
            self.gallery.stop()
        await self.embedder.stop()
        self.store_pool.shutdown(wait=True)
        self.decode_pool.shutdown(wait=True)
        self.large_image_pool.shutdown(wait=True)

    async def embed_uploads(self, uploads: list[tuple[str, UploadFile]]) -> np.ndarray:
        return (await self.read_and_embed(uploads))[1]

    async def read_and_embed(self, uploads: list[tuple[str, UploadFile]]) -> tuple[list[bytes], np.ndarray]:
        """The uploads' bytes and embeddings; any upload too large or not an image raises first."""
        limit = self.settings.max_upload_bytes
        contents = [await read_upload(upload, name, limit) for name, upload in uploads]
        arrays = await asyncio.gather(*(self.decode(data, name, upload_name(upload)) for data, (name, upload) in zip(contents, uploads)))
        # NCHW view of NHWC memory, as the file decoder hands every embedder its batches
        return contents, await self.embedder.embed(np.stack(arrays).transpose(0, 3, 1, 2))

    async def in_store_thread(self, function, *args):
        return await asyncio.get_running_loop().run_in_executor(self.store_pool, function, *args)

    @property
    def gallery_size(self) -> int:
        if self.gallery is not None:
            return len(self.gallery)
        return len(self.index) if self.index is not None else 0

    async def decode(self, data: bytes, field: str, filename: str) -> np.ndarray:
        """Decode in the shared threads, or in the one-at-a-time lane if the image is large."""
        loop = asyncio.get_running_loop()
        array = await loop.run_in_executor(self.decode_pool, decode_upload, data, field, filename, self.decoder.array, LARGE_IMAGE_PIXELS)
        if array is None:
            array = await loop.run_in_executor(self.large_image_pool, decode_upload, data, field, filename, self.decoder.array)
        return array

    def gallery_file(self, item_id: str) -> Path | None:
        """The file of a gallery item, found only through the index; None for anything else."""
        if self.index is None or not (item_id.isascii() and item_id.isdigit()) or len(item_id) > 18:
            return None
        item = self.index.get(int(item_id))
        if item is None:
            return None
        path = Path(item["path"])
        if not path.is_absolute() and not path.is_file() and self.index.file is not None:
            path = self.index.file.parent / path
        return path if path.is_file() else None


def service_state(request: Request) -> ServiceState:
    """The state ``create_app`` put on the app that is answering ``request``."""
    return request.app.state.service
