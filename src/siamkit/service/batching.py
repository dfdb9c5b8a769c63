"""Dynamic micro-batching: many requests' images, one forward pass.

A CNN on a CPU often costs less per image in a batch of 16 than in 16 batches of one (one pass
over the weights, better use of the vector units, one Python round trip and thread hand-off). Each request hands
its preprocessed images to :class:`MicroBatcher` and awaits a future; a single loop collects
pending images for at most ``wait_ms`` after the oldest arrived, or until ``max_batch`` images
are waiting, runs one ``embed_tensors`` call in a model thread (``workers`` of them may run at
once) and resolves every request's future with its rows. Under light load a request waits at most ``wait_ms``; under heavy load
requests pile up while the model runs, so the next batch is already full and throughput grows
with load.

:class:`DirectEmbedder` has the same interface without batching (one model call per request),
for comparison in the benchmark (``siamkit serve --no-batching``).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

log = logging.getLogger("siamkit")

EmbedFunction = Callable[[np.ndarray], np.ndarray]


@dataclass
class BatchStats:
    """How the model has been called: the service reports it at ``GET /v1/model``."""

    batching: bool
    batches: int = 0
    images: int = 0
    largest_batch: int = 0
    sizes: collections.Counter = field(default_factory=collections.Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, size: int) -> None:
        with self._lock:
            self.batches += 1
            self.images += size
            self.largest_batch = max(self.largest_batch, size)
            self.sizes[size] += 1

    def to_dict(self) -> dict:
        with self._lock:
            return {
                "enabled": self.batching,
                "batches": self.batches,
                "images": self.images,
                "largest_batch": self.largest_batch,
                "mean_batch": round(self.images / self.batches, 2) if self.batches else 0.0,
                "batch_sizes": {str(size): count for size, count in sorted(self.sizes.items())},
            }


@dataclass
class _Request:
    images: np.ndarray
    future: asyncio.Future
    arrived: float


class MicroBatcher:
    """Collects concurrent requests' images into batches for one model thread.

    Use inside a running event loop: ``await start()``, then ``await embed(images)`` from any
    number of request handlers, and ``await stop()`` at shutdown.
    """

    def __init__(self, embed: EmbedFunction, max_batch: int = 32, wait_ms: float = 5.0, workers: int = 1):
        if max_batch < 1 or workers < 1:
            raise ValueError("max_batch and workers must be at least 1")
        self._embed = embed
        self.max_batch = max_batch
        self.wait_s = max(0.0, wait_ms) / 1000.0
        self.workers = workers
        self.stats = BatchStats(batching=True)
        self._pending: collections.deque[_Request] = collections.deque()
        self._pending_images = 0
        self._wakeup: asyncio.Event | None = None
        self._free_workers: asyncio.Semaphore | None = None
        self._task: asyncio.Task | None = None
        self._running: set[asyncio.Task] = set()
        # Usually one worker: the model already spreads one batch over every core (intra-op
        # threads). With single-threaded model calls, one worker per core instead.
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="siamkit-model")

    async def start(self) -> None:
        self._wakeup = asyncio.Event()
        self._free_workers = asyncio.Semaphore(self.workers)
        self._task = asyncio.get_running_loop().create_task(self._run_forever(), name="siamkit-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        while self._pending:
            request = self._pending.popleft()
            if not request.future.done():
                request.future.set_exception(RuntimeError("the service is shutting down"))
        self._executor.shutdown(wait=True)

    async def embed(self, images: np.ndarray) -> np.ndarray:
        """Embeddings of ``images`` (n, C, H, W), computed in some batch with other requests."""
        if self._task is None or self._wakeup is None:
            raise RuntimeError("MicroBatcher.embed called before start()")
        loop = asyncio.get_running_loop()
        request = _Request(images, loop.create_future(), loop.time())
        self._pending.append(request)
        self._pending_images += len(images)
        self._wakeup.set()
        return await request.future

    async def _run_forever(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._wakeup is not None and self._free_workers is not None
        while True:
            while not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
            # While every worker is busy, requests keep arriving and the next batch fills up.
            await self._free_workers.acquire()
            # The clock starts when the oldest request arrived, not now: requests that queued
            # up while the model was busy have waited long enough and go straight in.
            deadline = self._pending[0].arrived + self.wait_s
            while self._pending_images < self.max_batch:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), remaining)
                except asyncio.TimeoutError:
                    break
            batch = self._take_batch()
            if not batch:
                self._free_workers.release()
                continue
            task = loop.create_task(self._run_batch(loop, batch))
            self._running.add(task)
            task.add_done_callback(self._batch_done)

    def _batch_done(self, task: asyncio.Task) -> None:
        self._running.discard(task)
        assert self._free_workers is not None
        self._free_workers.release()

    def _take_batch(self) -> list[_Request]:
        """Oldest first, up to max_batch images; a single larger request runs on its own."""
        batch: list[_Request] = []
        size = 0
        while self._pending:
            request = self._pending[0]
            if batch and size + len(request.images) > self.max_batch:
                break
            self._pending.popleft()
            self._pending_images -= len(request.images)
            if request.future.done():  # the client went away (its handler was cancelled)
                continue
            batch.append(request)
            size += len(request.images)
        return batch

    async def _run_batch(self, loop: asyncio.AbstractEventLoop, batch: list[_Request]) -> None:
        try:
            outputs = await loop.run_in_executor(self._executor, self._embed_batch, [r.images for r in batch])
        except Exception as exc:  # noqa: BLE001 - handed to every waiting request
            log.exception("embedding a batch of %d requests failed", len(batch))
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(exc)
            return
        start = 0
        for request in batch:
            stop = start + len(request.images)
            if not request.future.done():
                request.future.set_result(outputs[start:stop])
            start = stop

    def _embed_batch(self, parts: list[np.ndarray]) -> np.ndarray:
        images = parts[0] if len(parts) == 1 else np.concatenate(parts)
        outputs = self._embed(images)
        self.stats.record(len(images))
        return outputs


class DirectEmbedder:
    """One model call per request, in a small thread pool: the no-batching baseline."""

    def __init__(self, embed: EmbedFunction, threads: int = 2):
        self._embed = embed
        self.stats = BatchStats(batching=False)
        self._executor = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="siamkit-model")

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self._executor.shutdown(wait=True)

    async def embed(self, images: np.ndarray) -> np.ndarray:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._embed_one, images)

    def _embed_one(self, images: np.ndarray) -> np.ndarray:
        outputs = self._embed(images)
        self.stats.record(len(images))
        return outputs
