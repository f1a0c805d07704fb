"""grpc.health.v1.Health over a real server: Check, List and Watch, a lagging reporter that
resynchronises, and the shutdown that ends every Watch after NOT_SERVING."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from semsearch.lifecycle import IndexManager, IndexState
from semsearch.service.health import SERVICES, HealthReporter, index_service_name
from tests.support.server import Service
from tests.support.waiting import wait_all_ready

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE_UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
TIMEOUT = 30


@dataclass
class HealthServer:
    reporter: HealthReporter
    stub: health_pb2_grpc.HealthStub


@asynccontextmanager
async def health_server(manager: IndexManager, queue_limit: int) -> AsyncIterator[HealthServer]:
    """A reporter of its own, with a backlog as small as a test needs, on a grpc.aio server on loopback."""
    server = grpc.aio.server()
    reporter = HealthReporter(manager, queue_limit=queue_limit)
    health_pb2_grpc.add_HealthServicer_to_server(reporter.servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await reporter.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield HealthServer(reporter, health_pb2_grpc.HealthStub(channel))
    finally:
        await reporter.shutdown()
        await channel.close()
        await server.stop(None)


async def check(stub: health_pb2_grpc.HealthStub, service: str) -> int:
    answer = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=TIMEOUT)
    return int(answer.status)


async def index_statuses(stub: health_pb2_grpc.HealthStub, manager: IndexManager) -> dict[str, int]:
    return {name: await check(stub, index_service_name(name)) for name in manager.slots}


def expected(manager: IndexManager) -> dict[str, int]:
    """What health must say of each index: SERVING iff READY."""
    return {s.name: SERVING if s.state is IndexState.READY else NOT_SERVING for s in manager.statuses()}


async def next_status(stream: grpc.aio.UnaryStreamCall[object, object]) -> int:
    message = await asyncio.wait_for(stream.read(), TIMEOUT)
    assert message is not grpc.aio.EOF
    assert isinstance(message, health_pb2.HealthCheckResponse)
    return int(message.status)


async def test_check_and_list_report_the_server_its_services_and_every_index(service: Service) -> None:
    stub = health_pb2_grpc.HealthStub(service.channel)
    manager = service.app.manager
    for name in ("", *SERVICES):
        assert await check(stub, name) == SERVING, name
    assert await index_statuses(stub, manager) == expected(manager) == dict.fromkeys(manager.slots, SERVING)
    listed = await stub.List(health_pb2.HealthListRequest(), timeout=TIMEOUT)
    assert {name: answer.status for name, answer in listed.statuses.items()} == {
        **dict.fromkeys(("", *SERVICES), SERVING),
        **{index_service_name(name): SERVING for name in manager.slots},
    }
    for unknown in ("semsearch.index.nope", "nope", "semsearch.v1.SearchServic"):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await check(stub, unknown)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_watch_sends_the_status_then_each_change_only(service: Service) -> None:
    manager = service.app.manager
    stub = health_pb2_grpc.HealthStub(service.channel)
    eips = stub.Watch(health_pb2.HealthCheckRequest(service=index_service_name("eips")))
    unknown = stub.Watch(health_pb2.HealthCheckRequest(service="semsearch.index.nope"))
    assert await next_status(eips) == SERVING
    assert await next_status(unknown) == SERVICE_UNKNOWN  # and the stream stays open
    # Events that leave eips READY change nothing: no message. Then a real change: one message.
    for _ in range(3):
        manager.bus.publish("eips", IndexState.READY, manager.status("eips"), "test: no change")
    manager.park_all("test: parked")
    assert await next_status(eips) == NOT_SERVING
    assert await check(stub, index_service_name("eips")) == NOT_SERVING
    manager.wake("test: rebuild")
    assert await next_status(eips) == SERVING  # REBUILDING is NOT_SERVING too: not sent again
    await wait_all_ready(manager)
    eips.cancel()
    unknown.cancel()
    assert await check(stub, "") == SERVING


async def test_a_reporter_that_fell_behind_resynchronises_every_index(service: Service) -> None:
    manager = service.app.manager
    names = list(manager.slots)
    assert len(names) > 2
    async with health_server(manager, queue_limit=2) as health:
        watches = {
            name: health.stub.Watch(health_pb2.HealthCheckRequest(service=index_service_name(name)))
            for name in names
        }
        for stream in watches.values():
            assert await next_status(stream) == SERVING
        # One synchronous burst: more events than the reporter's backlog holds. The last indexes'
        # changes are dropped; only the snapshot that replaces them can say they stopped serving.
        manager.park_all("test: parked")
        assert manager.bus.subscribers("health") == 2  # the server's reporter and this one
        for name, stream in watches.items():
            assert await next_status(stream) == NOT_SERVING, name
        assert await index_statuses(health.stub, manager) == expected(manager)
        assert set(expected(manager).values()) == {NOT_SERVING}

        # After the snapshot the changes flow again: every index rebuilt, every index SERVING.
        manager.wake("test: rebuild")
        await wait_all_ready(manager)
        for name, stream in watches.items():
            assert await next_status(stream) == SERVING, name
        assert await index_statuses(health.stub, manager) == expected(manager)
        assert set(expected(manager).values()) == {SERVING}
        for stream in watches.values():
            stream.cancel()


async def test_shutdown_turns_everything_not_serving_and_ends_each_watch_ok(service: Service) -> None:
    manager = service.app.manager
    async with health_server(manager, queue_limit=8) as health:
        services = ["", *SERVICES, index_service_name("eips")]
        watches = [health.stub.Watch(health_pb2.HealthCheckRequest(service=s)) for s in services]
        for stream in watches:
            assert await next_status(stream) == SERVING
        unknown = health.stub.Watch(health_pb2.HealthCheckRequest(service="nope"))
        assert await next_status(unknown) == SERVICE_UNKNOWN

        await health.reporter.shutdown()
        for stream in watches:
            assert await next_status(stream) == NOT_SERVING
            assert await asyncio.wait_for(stream.read(), TIMEOUT) is grpc.aio.EOF
            assert await stream.code() == grpc.StatusCode.OK
        assert await asyncio.wait_for(unknown.read(), TIMEOUT) is grpc.aio.EOF
        assert await unknown.code() == grpc.StatusCode.OK
        for name in services:
            assert await check(health.stub, name) == NOT_SERVING
        # Nothing brings a shut-down reporter back, and a late Watch hears the final word and ends.
        manager.bus.publish("eips", IndexState.READY, manager.status("eips"), "test: after shutdown")
        assert await check(health.stub, index_service_name("eips")) == NOT_SERVING
        late = health.stub.Watch(health_pb2.HealthCheckRequest(service=""))
        assert await next_status(late) == NOT_SERVING
        assert await asyncio.wait_for(late.read(), TIMEOUT) is grpc.aio.EOF
        assert manager.bus.subscribers("health") == 1  # only the server's own reporter is left
