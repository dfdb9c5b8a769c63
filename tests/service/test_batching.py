"""The micro-batcher on its own: batches form, rows go back to the right request, errors spread."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from siamkit.service.batching import DirectEmbedder, MicroBatcher


def row_sums(images: np.ndarray) -> np.ndarray:
    """A stand-in model: one number per image, so each request can check it got its own rows."""
    return images.reshape(len(images), -1).sum(axis=1, keepdims=True)


def requests(count: int, per_request: int = 2) -> list[np.ndarray]:
    return [np.full((per_request, 3, 2, 2), float(index), np.float32) for index in range(count)]


def run(coroutine):
    return asyncio.run(coroutine)


def test_concurrent_requests_share_batches_and_get_their_own_rows():
    async def scenario():
        batcher = MicroBatcher(row_sums, max_batch=8, wait_ms=50)
        await batcher.start()
        inputs = requests(12)
        outputs = await asyncio.gather(*(batcher.embed(images) for images in inputs))
        await batcher.stop()
        return batcher, inputs, outputs

    batcher, inputs, outputs = run(scenario())
    for images, output in zip(inputs, outputs):
        np.testing.assert_allclose(output, row_sums(images))
    stats = batcher.stats.to_dict()
    assert stats["images"] == 24
    assert stats["largest_batch"] == 8  # never more than max_batch
    assert stats["batches"] == 3


def test_a_request_larger_than_max_batch_runs_alone():
    async def scenario():
        batcher = MicroBatcher(row_sums, max_batch=4, wait_ms=1)
        await batcher.start()
        big = np.ones((6, 3, 2, 2), np.float32)
        output = await batcher.embed(big)
        await batcher.stop()
        return batcher, output

    batcher, output = run(scenario())
    assert output.shape == (6, 1)
    assert batcher.stats.largest_batch == 6


def test_a_lone_request_waits_at_most_the_window():
    async def scenario():
        batcher = MicroBatcher(row_sums, max_batch=32, wait_ms=30)
        await batcher.start()
        loop = asyncio.get_running_loop()
        started = loop.time()
        await batcher.embed(np.zeros((1, 3, 2, 2), np.float32))
        waited = loop.time() - started
        await batcher.stop()
        return waited

    assert run(scenario()) < 1.0


def test_a_failing_model_fails_every_request_in_the_batch_and_the_batcher_goes_on():
    calls = []

    def flaky(images: np.ndarray) -> np.ndarray:
        calls.append(len(images))
        if len(calls) == 1:
            raise RuntimeError("model exploded")
        return row_sums(images)

    async def scenario():
        batcher = MicroBatcher(flaky, max_batch=8, wait_ms=50)
        await batcher.start()
        first = await asyncio.gather(*(batcher.embed(images) for images in requests(3)), return_exceptions=True)
        second = await batcher.embed(np.ones((1, 3, 2, 2), np.float32))
        await batcher.stop()
        return first, second

    first, second = run(scenario())
    assert all(isinstance(result, RuntimeError) for result in first)
    assert second.shape == (1, 1)


def test_a_cancelled_request_is_skipped():
    seen = []

    def model(images: np.ndarray) -> np.ndarray:
        seen.append(len(images))
        return row_sums(images)

    async def scenario():
        batcher = MicroBatcher(model, max_batch=8, wait_ms=100)
        await batcher.start()
        doomed = asyncio.ensure_future(batcher.embed(np.zeros((3, 3, 2, 2), np.float32)))
        kept = asyncio.ensure_future(batcher.embed(np.ones((1, 3, 2, 2), np.float32)))
        await asyncio.sleep(0.01)
        doomed.cancel()
        result = await kept
        await batcher.stop()
        return result

    assert run(scenario()).shape == (1, 1)
    assert seen == [1]


def test_without_batching_each_request_is_its_own_call():
    async def scenario():
        direct = DirectEmbedder(row_sums, threads=2)
        await direct.start()
        outputs = await asyncio.gather(*(direct.embed(images) for images in requests(5)))
        await direct.stop()
        return direct, outputs

    direct, outputs = run(scenario())
    assert len(outputs) == 5 and direct.stats.batches == 5 and direct.stats.largest_batch == 2


def test_embed_before_start_is_a_programming_error():
    with pytest.raises(RuntimeError, match="start"):
        run(MicroBatcher(row_sums).embed(np.zeros((1, 3, 2, 2), np.float32)))


def test_two_workers_run_two_batches_at_once():
    both_running = threading.Barrier(2, timeout=10)

    def model(images: np.ndarray) -> np.ndarray:
        both_running.wait()  # raises BrokenBarrierError unless a second batch runs meanwhile
        return row_sums(images)

    async def scenario():
        batcher = MicroBatcher(model, max_batch=2, wait_ms=0, workers=2)
        await batcher.start()
        outputs = await asyncio.gather(*(batcher.embed(images) for images in requests(2)))
        await batcher.stop()
        return batcher, outputs

    batcher, outputs = run(scenario())
    assert len(outputs) == 2 and batcher.stats.batches == 2
