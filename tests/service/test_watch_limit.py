"""`[server] max_watch_streams` reaches the server: one stream past it is refused, retryably."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from semsearch.api.v1 import admin_pb2
from semsearch.config import with_overrides
from semsearch.proxy.launcher import ProxyProcess
from tests.support.server import Service, fixture_config
from tests.support.status import failure


async def test_the_configured_watch_stream_limit_is_enforced(
    hash_proxy: ProxyProcess, make_service: Any
) -> None:
    config = with_overrides(fixture_config(hash_proxy.url), server__max_watch_streams=2)
    service: Service = await make_service(config)
    open_streams = [service.admin.WatchIndexes(admin_pb2.WatchIndexesRequest()) for _ in range(2)]
    for stream in open_streams:
        assert (await stream.read()).WhichOneof("payload") == "snapshot"
    refused = service.admin.WatchIndexes(admin_pb2.WatchIndexesRequest())
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await refused.read()
    got = failure(caught.value)
    assert got.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert got.error_info is not None and got.error_info.reason == "TOO_MANY_WATCH_STREAMS"
    assert got.error_info.metadata["limit"] == "2" and got.retry_info is not None
    for stream in open_streams:
        stream.cancel()
