"""A search is answered while a slow rebuild holds the provider: its query embedding never waits for
build batches, and the indexes that are rebuilt already serve while the largest one still builds."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from semsearch.api.v1 import search_pb2
from semsearch.lifecycle import IndexState
from semsearch.proxy.launcher import ProxyProcess
from tests.support.corpora import fixture_chunks
from tests.support.faults import FaultTransport, is_build_batch, is_query
from tests.support.server import fixture_config
from tests.support.waiting import wait_for

SPECS_TEXTS = {chunk.text for (index, _), chunk in fixture_chunks().items() if index == "specs"}


def is_specs_batch(request: httpx.Request) -> bool:
    return is_build_batch(request) and set(json.loads(request.content)["input"][:-1]) <= SPECS_TEXTS


class Hold:
    """Holds each request it is given until released, then lets the real provider answer it."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.release = asyncio.Event()

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        await self.release.wait()
        return await self.inner.handle_async_request(request)


async def test_a_search_is_answered_while_a_build_batch_holds_the_provider(
    hash_proxy: ProxyProcess, make_service: Any
) -> None:
    # One batch in flight at a time: the largest index (specs, two batches of 8) holds the only slot.
    config = fixture_config(hash_proxy.url, concurrency=1)
    faults = FaultTransport(httpx.AsyncHTTPTransport())
    service = await make_service(config, transport=faults)
    manager = service.app.manager
    hold = Hold(faults.inner)
    faults.when = lambda request: hold if is_specs_batch(request) else None

    await hash_proxy.switch_model("hash-v2")
    manager.wake("test: model switched")
    await faults.until_faulted(lambda seen: any(map(is_specs_batch, seen)))
    # The smaller indexes went first and serve in hash-v2; specs waits on its held batch.
    await wait_for(
        manager,
        lambda: all(
            s.state is IndexState.READY and s.space is not None and s.space.model == "hash-v2"
            for s in manager.statuses()
            if s.name != "specs"
        ),
    )
    assert manager.status("specs").state is IndexState.REBUILDING
    sent_before = list(faults.bodies)

    response = await service.search.Search(
        search_pb2.SearchRequest(
            query="fee market", indexes=["runbooks"], top_k=3, mode=search_pb2.SEARCH_MODE_DENSE
        ),
        timeout=30,
    )

    assert response.hits and not response.unavailable_indexes and not response.degraded
    assert response.query_space.model == "hash-v2"
    # Answered while the build batch was still held and the build's next batch still queued: the
    # query's request reached the provider ahead of it.
    assert not hold.release.is_set()
    assert sum(map(is_specs_batch, faults.faulted)) == 1
    after = [httpx.Request("POST", "http://x", content=body) for body in faults.bodies[len(sent_before) :]]
    assert any(map(is_query, after)) and not any(map(is_build_batch, after))
    assert manager.status("specs").state is IndexState.REBUILDING

    hold.release.set()
    await wait_for(manager, manager.all_ready)
    await asyncio.wait_for(service.app.watcher.settled.wait(), 60)
    assert sum(map(is_specs_batch, faults.faulted)) == 2  # the queued batch went after the query
