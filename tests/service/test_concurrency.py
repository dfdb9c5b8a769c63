"""Sixteen clients at once: all answered, each with its own result, in shared batches."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest


def test_sixteen_concurrent_compares_share_batches(live, gallery):
    before = httpx.get(f"{live.url}/v1/model").json()["batching"]
    pairs = [(gallery.paths[i % len(gallery.paths)], gallery.paths[(3 * i + 1) % len(gallery.paths)]) for i in range(16)]

    async def one(client: httpx.AsyncClient, first: str, second: str) -> httpx.Response:
        files = {"image_a": (Path(first).name, Path(first).read_bytes()), "image_b": (Path(second).name, Path(second).read_bytes())}
        return await client.post("/v1/compare", files=files)

    async def burst() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=16)
        async with httpx.AsyncClient(base_url=live.url, timeout=60, limits=limits) as client:
            return await asyncio.gather(*(one(client, first, second) for first, second in pairs))

    responses = asyncio.run(burst())
    assert [response.status_code for response in responses] == [200] * 16
    # Batched together, yet every request got the answer for its own pair.
    for (first, second), response in zip(pairs, responses):
        assert response.json()["distance"] == pytest.approx(gallery.model.compare(first, second).distance, abs=1e-4)

    after = httpx.get(f"{live.url}/v1/model").json()["batching"]
    assert after["images"] - before["images"] == 32
    assert after["batches"] - before["batches"] < 16
    assert after["largest_batch"] > 1
    assert httpx.get(f"{live.url}/healthz").status_code == 200
