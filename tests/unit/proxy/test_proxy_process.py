"""``start_proxy``: a real ``semsearch proxy`` child process over real HTTP, always cleaned up."""

from __future__ import annotations

import asyncio
import os

import httpx
import numpy as np
import pytest

from semsearch.proxy.hashing import hash_embed
from semsearch.proxy.launcher import ProxyError, ProxyProcess, start_proxy

pytestmark = pytest.mark.slow


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_real_process_serves_switches_and_exits_cleanly() -> None:
    texts = ["restart a stuck validator", "blob fees"]
    async with start_proxy("hash-v1") as proxy, httpx.AsyncClient(base_url=proxy.url) as client:
        assert proxy.url.startswith("http://127.0.0.1:")
        assert proxy.url.endswith("/v1")
        root = proxy.url.removesuffix("/v1")
        health = await client.get(f"{root}/health")
        assert health.json() == {
            "status": "ok",
            "model": "hash-v1",
            "dimensions": 384,
            "embedding_requests": 0,
            "embedded_inputs": 0,
        }

        body = (await client.post("/embeddings", json={"input": texts})).json()
        assert body["model"] == "hash-v1"
        assert np.array_equal(
            np.asarray([d["embedding"] for d in body["data"]], "f4"), hash_embed(texts, "hash-v1")
        )

        answer = await proxy.switch_model("hash-v2")
        assert answer["model"] == "hash-v2"
        assert proxy.model == "hash-v2"
        assert (await client.get(f"{root}/health")).json()["model"] == "hash-v2"
        body = (await client.post("/embeddings", json={"input": texts})).json()
        assert body["model"] == "hash-v2"
        assert np.array_equal(
            np.asarray([d["embedding"] for d in body["data"]], "f4"), hash_embed(texts, "hash-v2")
        )

        with pytest.raises(ProxyError, match="no-such-model"):
            await proxy.switch_model("no-such-model")
        pid = proxy.pid
    assert proxy.returncode == 0  # SIGTERM -> graceful shutdown -> exit status 0
    assert not alive(pid)


async def test_stopped_even_when_the_block_raises() -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with start_proxy("hash-v1") as proxy:
            raise RuntimeError("boom")
    assert proxy.returncode == 0
    assert not alive(proxy.pid)


async def test_unknown_model_fails_with_the_exit_code() -> None:
    with pytest.raises(ProxyError, match=r"exited before it was ready \(exit code [1-9]"):
        async with start_proxy("no-such-model"):
            pass


async def test_startup_timeout_kills_the_child() -> None:
    with pytest.raises(ProxyError, match=r"not ready after .*exit code -9"):
        async with start_proxy("hash-v1", startup_timeout=0.05):
            pass


async def test_stopped_when_the_user_is_cancelled() -> None:
    started: asyncio.Future[ProxyProcess] = asyncio.get_running_loop().create_future()

    async def user() -> None:
        async with start_proxy("hash-v1") as proxy:
            started.set_result(proxy)
            await asyncio.Event().wait()

    task = asyncio.create_task(user())
    proxy = await asyncio.wait_for(started, 60)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert proxy.returncode == 0
    assert not alive(proxy.pid)
