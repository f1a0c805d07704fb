"""The channel defaults: gRPC itself retries the read-only calls on UNAVAILABLE, never Reindex."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from semsearch.api.v1 import admin_pb2, admin_pb2_grpc, types_pb2
from semsearch_client import AsyncSemsearchClient, UnreachableError
from semsearch_client.channel import DEFAULT_OPTIONS, RETRIED_METHODS, SERVICE_CONFIG, channel_options


class FlakyAdmin(admin_pb2_grpc.AdminServiceServicer):
    """Fails the first ``failures`` calls of each method with a bare UNAVAILABLE, then answers."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: dict[str, int] = {}

    async def _maybe_fail(self, method: str, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        self.calls[method] = self.calls.get(method, 0) + 1
        if self.calls[method] <= self.failures:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "injected: try again")

    async def ListIndexes(
        self, request: admin_pb2.ListIndexesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> admin_pb2.ListIndexesResponse:
        await self._maybe_fail("ListIndexes", context)
        return admin_pb2.ListIndexesResponse(indexes=[types_pb2.Index(name="flaky")])

    async def Reindex(
        self, request: admin_pb2.ReindexRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> admin_pb2.ReindexResponse:
        await self._maybe_fail("Reindex", context)
        return admin_pb2.ReindexResponse()


@pytest.fixture
async def flaky() -> AsyncIterator[tuple[FlakyAdmin, str]]:
    servicer = FlakyAdmin(failures=2)  # type: ignore[abstract]  # the other methods are not called
    server = grpc.aio.server()
    admin_pb2_grpc.add_AdminServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield servicer, f"127.0.0.1:{port}"
    finally:
        await server.stop(None)


async def test_reads_are_retried_by_the_channel(flaky: tuple[FlakyAdmin, str]) -> None:
    servicer, target = flaky
    async with AsyncSemsearchClient(target) as client:
        assert [ix.name for ix in await client.list_indexes()] == ["flaky"]
    assert servicer.calls["ListIndexes"] == 3


async def test_reindex_is_not_retried(flaky: tuple[FlakyAdmin, str]) -> None:
    servicer, target = flaky
    async with AsyncSemsearchClient(target) as client:
        with pytest.raises(UnreachableError):  # a bare UNAVAILABLE: no semsearch ErrorInfo
            await client.reindex()
    assert servicer.calls["Reindex"] == 1


async def test_an_option_override_turns_the_retries_off(flaky: tuple[FlakyAdmin, str]) -> None:
    servicer, target = flaky
    async with AsyncSemsearchClient(target, options=[("grpc.enable_retries", 0)]) as client:
        with pytest.raises(UnreachableError):
            await client.list_indexes()
    assert servicer.calls["ListIndexes"] == 1


def test_the_service_config_names_exactly_the_read_methods() -> None:
    config = json.loads(SERVICE_CONFIG)
    (method_config,) = config["methodConfig"]
    assert {(n["service"], n["method"]) for n in method_config["name"]} == set(RETRIED_METHODS)
    reads = {"Search", "ListIndexes", "GetIndex", "GetEmbeddingSpace"}
    assert {method for _, method in RETRIED_METHODS} == reads
    assert method_config["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]


def test_overrides_replace_defaults_and_keep_the_rest() -> None:
    overrides = [("grpc.keepalive_time_ms", 1234), ("grpc.lb_policy_name", "round_robin")]
    options = dict(channel_options(overrides))
    assert options["grpc.keepalive_time_ms"] == 1234
    assert options["grpc.lb_policy_name"] == "round_robin"
    assert options["grpc.service_config"] == DEFAULT_OPTIONS["grpc.service_config"]
    assert len(options) == len(DEFAULT_OPTIONS) + 1
