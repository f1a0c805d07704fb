"""Faults between server and provider: indexes park with a reason, nothing is mixed, and it heals."""

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
    space = await service.admin.GetEmbeddingSpace(admin_pb2.GetEmbeddingSpaceRequest())
    assert not space.HasField("provider_space") and not space.HasField("built_space")


async def test_partial_failure_parks_every_index_until_the_fault_clears(
    hash_proxy: ProxyProcess, make_service: Any
) -> None:
    """The regression this design exists for: one index's rebuild fails after a model switch."""
    runbook_texts = {c.text for (name, _), c in fixture_chunks().items() if name == "runbooks"}
    failing = False

    def runbook_batches(request: httpx.Request) -> Any:
        inputs = set(json.loads(request.content)["input"])
        return status(400, body=b'{"error": "bad batch"}') if failing and inputs & runbook_texts else None

    faults = FaultTransport(httpx.AsyncHTTPTransport(), when=runbook_batches)
    service: Service = await make_service(fixture_config(hash_proxy.url), transport=faults)
    manager = service.app.manager
    failing = True
    await hash_proxy.switch_model("hash-v2")
    manager.wake("test: model switched")
    await wait_for(
        manager,
        lambda: (
            service.app.watcher.incomplete
            and not any(s.state is IndexState.READY for s in manager.statuses())
            and manager.status("runbooks").last_error != ""
        ),
    )
    listed = (await service.admin.ListIndexes(admin_pb2.ListIndexesRequest())).indexes
    assert {ix.state for ix in listed} <= {types_pb2.INDEX_STATE_PARKED, types_pb2.INDEX_STATE_REBUILDING}
    assert "HTTP 400" in next(ix.last_error for ix in listed if ix.name == "runbooks")
    spaces = await service.admin.GetEmbeddingSpace(admin_pb2.GetEmbeddingSpaceRequest())
    assert spaces.built_space.model == "hash-v1"  # never advanced past a partial reindex
    assert spaces.provider_space.model == "hash-v2"
    failing = False
    await wait_for(
        manager,
        lambda: (
            manager.all_ready()
            and {
                s.space.model
                for s in manager.statuses()  # type: ignore[union-attr]
            }
            == {"hash-v2"}
        ),
        timeout=30,
    )
    await asyncio.wait_for(service.app.watcher.settled.wait(), 30)
    assert manager.built_space is not None and manager.built_space.model == "hash-v2"
    listed = (await service.admin.ListIndexes(admin_pb2.ListIndexesRequest())).indexes
    assert {ix.space.model for ix in listed} == {"hash-v2"}
    assert all(not ix.last_error for ix in listed)
