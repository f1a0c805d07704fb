"""Faults between server and provider: indexes park with a reason, and nothing is ever mixed."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import grpc
import httpx
import pytest

from semsearch.api.v1 import admin_pb2, search_pb2, types_pb2
from semsearch.lifecycle import IndexState
from semsearch.proxy.launcher import ProxyProcess
from tests.support.corpora import fixture_chunks
from tests.support.faults import FaultTransport, status
from tests.support.server import Service, fixture_config
from tests.support.status import failure
from tests.support.waiting import wait_for


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_provider_down_leaves_every_index_parked_and_searches_unavailable(make_service: Any) -> None:
    config = fixture_config(f"http://127.0.0.1:{closed_port()}/v1", max_retries=0)
    service: Service = await make_service(config, ready=False)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await service.search.Search(search_pb2.SearchRequest(query="anything"))
    got = failure(caught.value)
    assert got.code == grpc.StatusCode.UNAVAILABLE
    assert got.error_info is not None and got.error_info.reason == "INDEX_NOT_READY"
    assert got.retry_info is not None and got.retry_info.retry_delay.ToTimedelta().total_seconds() > 0
    listed = await service.admin.ListIndexes(admin_pb2.ListIndexesRequest())
    assert {ix.state for ix in listed.indexes} == {types_pb2.INDEX_STATE_PARKED}


async def test_one_failed_build_parks_that_index_and_the_rest_serve(
    hash_proxy: ProxyProcess, make_service: Any
) -> None:
    # Every batch holding a runbook chunk fails (non-retryable) until the fault is lifted.
    runbook_texts = {c.text for (name, _), c in fixture_chunks().items() if name == "runbooks"}
    failing = True

    def runbook_batches(request: httpx.Request) -> Any:
        inputs = set(json.loads(request.content)["input"])
        return status(400, body=b'{"error": "bad batch"}') if failing and inputs & runbook_texts else None

    faults = FaultTransport(httpx.AsyncHTTPTransport(), when=runbook_batches)
    service: Service = await make_service(fixture_config(hash_proxy.url), transport=faults, ready=False)
    manager = service.app.manager
    await wait_for(manager, lambda: all(s.state is IndexState.READY for s in manager.statuses()[1:]))
    await wait_for(manager, lambda: manager.status("runbooks").state is IndexState.PARKED)
    runbooks = (await service.admin.GetIndex(admin_pb2.GetIndexRequest(name="runbooks"))).index
    assert runbooks.state == types_pb2.INDEX_STATE_PARKED
    assert "HTTP 400" in runbooks.last_error
    response = await service.search.Search(search_pb2.SearchRequest(query="validator", top_k=20))
    assert response.hits and "runbooks" not in {hit.index for hit in response.hits}
    assert [(u.index, u.reason) for u in response.unavailable_indexes] == [("runbooks", "INDEX_NOT_READY")]
    # Lift the fault: after the builder's backoff the parked index is rebuilt and the service heals.
    failing = False
    await wait_for(manager, manager.all_ready, timeout=30)
    healed = await service.search.Search(search_pb2.SearchRequest(query="validator", indexes=["runbooks"]))
    assert healed.hits


async def test_a_query_embedded_in_another_space_is_refused_not_scored(
    hash_proxy: ProxyProcess, service: Service
) -> None:
    await hash_proxy.switch_model("hash-v2")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await service.search.Search(search_pb2.SearchRequest(query="validator", indexes=["eips"]))
    got = failure(caught.value)
    assert got.code == grpc.StatusCode.UNAVAILABLE
    assert got.error_info is not None and got.error_info.reason == "EMBEDDING_SPACE_CHANGED"
    assert got.retry_info is not None
    await hash_proxy.switch_model("hash-v1")
    await asyncio.sleep(0)
    back = await service.search.Search(search_pb2.SearchRequest(query="validator", indexes=["eips"]))
    assert back.query_space.model == "hash-v1"
