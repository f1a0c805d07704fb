"""Concurrent batches: bounded overlap, results in order, a space move cancels the rest; the query LRU."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import numpy as np
import pytest

from semsearch.corpus import Chunk
from semsearch.embeddings import (
    PROBE_TEXT,
    EmbeddingCache,
    EmbeddingProvider,
    Embeddings,
    EmbeddingSpace,
    ProviderResponseError,
    QueryCache,
    SpaceMoved,
    probe_space,
)
from semsearch.lifecycle.builder import build_index
from semsearch.proxy.app import create_app
from semsearch.proxy.hashing import hash_embed
from semsearch.proxy.models import AliasedModel, load_model
from tests.support.faults import FaultTransport, status


class SlowProvider(httpx.AsyncBaseTransport):
    """Answers every batch after a fixed delay, counting how many requests overlap."""

    def __init__(self, delay: float, model: str = "hash-v1") -> None:
        self.inner = httpx.ASGITransport(app=create_app(model))
        self.delay = delay
        self.in_flight = 0
        self.max_in_flight = 0
        self.requests = 0
        self.cancelled = 0
        self.answer_as: dict[int, str] = {}  # request number -> model name to echo instead
        self.fast: set[int] = set()  # request numbers answered without the delay
        self.swap_after: int | None = None  # after this many requests hash-v2 answers as hash-v1

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        number = self.requests
        if self.swap_after is not None and number > self.swap_after:
            self.inner.app.state.proxy.model = AliasedModel(load_model("hash-v2"), "hash-v1")  # type: ignore[attr-defined]
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0 if number in self.fast else self.delay)
            response = await self.inner.handle_async_request(request)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.in_flight -= 1
        if number in self.answer_as:
            body = json.loads(await response.aread())
            body["model"] = self.answer_as[number]
            return httpx.Response(200, json=body, request=request)
        return response


def provider(transport: httpx.AsyncBaseTransport, concurrency: int) -> EmbeddingProvider:
    return EmbeddingProvider(
        "http://provider.test/v1",
        "hash-v1",
        transport=transport,
        batch_size=2,
        concurrency=concurrency,
        max_retries=0,
    )


@pytest.mark.parametrize("concurrency", [1, 3, 8])
async def test_batches_overlap_up_to_the_concurrency_and_keep_their_order(concurrency: int) -> None:
    slow = SlowProvider(delay=0.05)
    texts = [f"chunk number {i}" for i in range(24)]  # 12 batches
    client = provider(slow, concurrency)
    done: list[int] = []
    result = await client.embed_documents(texts, on_batch=done.append)
    await client.aclose()
    assert slow.requests == 12
    assert slow.max_in_flight == min(concurrency, 12)
    assert sum(done) == 24
    np.testing.assert_allclose(result.vectors, hash_embed(texts, "hash-v1"), atol=1e-6)


async def test_a_batch_from_another_space_cancels_the_batches_in_flight() -> None:
    slow = SlowProvider(delay=5.0)
    slow.answer_as = {1: "hash-v2"}
    slow.fast = {1}  # the foreign answer arrives while the other three batches are still in flight
    client = provider(slow, concurrency=4)
    with pytest.raises(SpaceMoved, match="hash-v2"):
        await client.embed_documents([f"t{i}" for i in range(16)], expect=("hash-v1", 384))
    await client.aclose()
    # Every other batch in flight was cancelled, not waited for (the one freed slot may have let a
    # fifth start before the error landed); the rest of the queue was never sent.
    assert slow.requests in (4, 5)
    assert slow.cancelled == slow.requests - 1


async def test_a_model_swapped_behind_the_name_mid_build_is_caught_by_the_batch_probe() -> None:
    slow = SlowProvider(delay=0.0)
    client = provider(slow, concurrency=1)
    texts = [f"t{i}" for i in range(16)]  # 8 batches
    fingerprint = tuple(hash_embed([PROBE_TEXT], "hash-v1")[0].tolist())
    result = await client.embed_documents(texts, expect=("hash-v1", 384), fingerprint=fingerprint)
    np.testing.assert_allclose(result.vectors, hash_embed(texts, "hash-v1"), atol=1e-6)  # probe stripped
    slow.swap_after = 2  # from the third request on, another model answers under the same name
    slow.requests = 0
    with pytest.raises(SpaceMoved, match="probe vector"):
        await client.embed_documents(texts, expect=("hash-v1", 384), fingerprint=fingerprint)
    assert slow.requests <= 4  # the first foreign batch (the third) stopped the build
    await client.aclose()


async def test_a_query_can_carry_the_probe_as_proof_of_its_model() -> None:
    client = provider(SlowProvider(delay=0.0), concurrency=1)
    plain = await client.embed_query("who attests")
    proven = await client.embed_query("who attests", with_probe=True)
    await client.aclose()
    assert plain.probe is None and proven.vectors.shape == (1, 384)
    np.testing.assert_allclose(proven.vectors, plain.vectors, atol=1e-6)
    assert proven.probe is not None
    np.testing.assert_allclose(proven.probe, hash_embed([PROBE_TEXT], "hash-v1")[0], atol=1e-6)
    space = EmbeddingSpace("hash-v1", 384, (1.0,), tuple(hash_embed([PROBE_TEXT], "hash-v1")[0].tolist()))
    other = EmbeddingSpace("hash-v1", 384, (1.0,), tuple(hash_embed([PROBE_TEXT], "hash-v2")[0].tolist()))
    assert space.admits(proven) and not other.admits(proven)
    assert other.admits(plain)  # without a probe only the echo can be checked


def test_query_cache_is_per_space_and_bounded() -> None:
    space = EmbeddingSpace("hash-v1", 384, (1.0,))
    other = EmbeddingSpace("hash-v2", 384, (1.0,))
    cache = QueryCache(size=2)
    vector = Embeddings(np.zeros((1, 384), dtype=np.float32), "hash-v1", 384)
    cache.put(space, "a", vector)
    cache.put(space, "b", vector)
    assert cache.get(space, "a") is vector
    cache.put(space, "c", vector)  # evicts the least recently used: "b"
    assert cache.get(space, "b") is None and cache.get(space, "c") is vector
    cache.put(space, "d", Embeddings(vector.vectors, "hash-v2", 384))  # echoed from another model
    assert cache.get(space, "d") is None
    assert cache.get(other, "a") is None  # the space changed: everything cached before is gone
    assert cache.get(space, "a") is None
    assert cache.get(None, "a") is None


async def test_each_answered_batch_is_cached_at_once_so_a_failed_build_resumes_where_it_stopped(
    tmp_path: Path,
) -> None:
    faults = FaultTransport(httpx.ASGITransport(app=create_app("hash-v1")))
    provider = EmbeddingProvider(
        "http://provider.test/v1", "hash-v1", transport=faults, batch_size=2, concurrency=1, max_retries=0
    )
    space = await probe_space(provider)
    cache = EmbeddingCache(tmp_path / "cache.sqlite")
    chunks = [Chunk(f"d{i}#0", f"d{i}", "", "", f"chunk {i} about validators", "", "d.md") for i in range(10)]
    texts = [c.text for c in chunks]
    faults.rules[faults.count + 3] = status(400)  # the third batch fails for good
    with pytest.raises(ProviderResponseError):
        await build_index(chunks, provider, space, cache)
    stored = cache.lookup(space, "document", texts)
    assert [v is not None for v in stored] == [True] * 4 + [False] * 6  # the two batches answered first
    np.testing.assert_allclose(np.stack(stored[:4]), hash_embed(texts[:4], "hash-v1"), atol=1e-6)

    before = len(faults.bodies)
    index = await build_index(chunks, provider, space, cache)
    sent = [t for body in faults.bodies[before:] for t in json.loads(body)["input"] if t != PROBE_TEXT]
    assert sent == texts[4:]  # the retry embeds only what the failed build had not stored
    np.testing.assert_allclose(index.matrix, hash_embed(texts, "hash-v1"), atol=1e-6)
    cache.close()
    await provider.aclose()
