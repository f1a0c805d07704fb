"""SIGTERM under load, against a real `semsearch serve` process.

Eight clients search in a loop, each on its own connection; two WatchIndexes streams and a health
Watch per service are open; then the process gets SIGTERM. Required: health goes NOT_SERVING before
anything else happens, no call is cut (every call the server started is answered; any other call is
turned away with UNAVAILABLE before it runs, or fails to connect once the listener is closed), the
watch streams end with OK, and the process exits 0 within its grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from semsearch.api.v1 import admin_pb2, admin_pb2_grpc, search_pb2, search_pb2_grpc
from semsearch.proxy.launcher import ProxyProcess
from semsearch.service.draining import ServerShuttingDown
from semsearch.service.health import index_service_name
from tests.support.corpora import FIXTURE_INDEXES
from tests.support.process import all_ready, serve_process, wait_for_states, write_config
from tests.support.relay import relay_to
from tests.support.status import failure

CLIENTS = 8
WATCH_STREAMS = 2
WARM_SEARCHES = 5  # per client, before the signal: the load is really running
GRACE_SECONDS = 5.0
EXIT_SLACK_SECONDS = 3.0  # interpreter teardown after the server stopped
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
TURNED_AWAY = ServerShuttingDown.reason


@dataclass(frozen=True)
class Call:
    client: int
    query: str
    code: grpc.StatusCode
    reason: str = ""  # ErrorInfo.reason: only the server's own refusals carry one
    retry_hint: bool = False  # a RetryInfo came with it
    details: str = ""
    after_exit: bool = False  # made once the server process had exited


class Load:
    """``CLIENTS`` searchers in a loop. A client that is turned away checks health on the same
    connection, waits for the process to exit, tries once more (that must fail to connect) and stops."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.calls: list[Call] = []
        self.health_when_turned_away: list[int] = []
        self.in_flight = 0
        self.warm = asyncio.Event()
        self.exited = asyncio.Event()
        self._answered = [0] * CLIENTS

    async def client(self, number: int) -> None:
        # Its own connection, as a separate client process would have.
        options = [("grpc.use_local_subchannel_pool", 1)]
        async with grpc.aio.insecure_channel(self.address, options=options) as channel:
            search = search_pb2_grpc.SearchServiceStub(channel)
            attempt = 0
            while True:
                attempt += 1
                # A distinct query each time: every search the server starts reaches the provider once.
                request = search_pb2.SearchRequest(
                    query=f"client {number} search {attempt}: disk full", top_k=3
                )
                call = await self._search(number, search, request)
                if call.code == grpc.StatusCode.OK:
                    continue
                if call.reason == TURNED_AWAY:
                    check = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
                    self.health_when_turned_away.append((await check).status)
                    await self.exited.wait()
                    await self._search(number, search, request, after_exit=True)
                return

    async def _search(
        self,
        number: int,
        search: search_pb2_grpc.SearchServiceStub,
        request: search_pb2.SearchRequest,
        after_exit: bool = False,
    ) -> Call:
        self.in_flight += 1
        try:
            await search.Search(request, timeout=60)
            call = Call(number, request.query, grpc.StatusCode.OK)
            self._answered[number] += 1
            if min(self._answered) >= WARM_SEARCHES:
                self.warm.set()
        except grpc.aio.AioRpcError as exc:
            found = failure(exc)
            reason = found.error_info.reason if found.error_info else ""
            call = Call(
                number,
                request.query,
                exc.code(),
                reason,
                found.retry_info is not None,
                found.message,
                after_exit,
            )
        finally:
            self.in_flight -= 1
        self.calls.append(call)
        return call


async def watch_health(channel: grpc.aio.Channel, service: str) -> tuple[list[int], grpc.StatusCode]:
    """Every status a health Watch receives, and how the stream ended."""
    stream = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=service))
    statuses: list[int] = []
    try:
        async for message in stream:
            statuses.append(message.status)
    except grpc.aio.AioRpcError as exc:
        return statuses, exc.code()
    return statuses, await stream.code()


async def drain_watch(stream: grpc.aio.UnaryStreamCall[object, object]) -> grpc.StatusCode:
    while await stream.read() is not grpc.aio.EOF:
        pass
    return await stream.code()


@pytest.mark.slow
async def test_sigterm_under_load_drains_health_first_drops_nothing_and_exits_zero(
    hash_proxy: ProxyProcess, tmp_path: Path
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        relay = await stack.enter_async_context(relay_to(hash_proxy.url))
        config = write_config(
            tmp_path / "semsearch.toml", relay.url, FIXTURE_INDEXES, grace_seconds=GRACE_SECONDS
        )
        server = await stack.enter_async_context(serve_process(config))
        channel = await stack.enter_async_context(grpc.aio.insecure_channel(server.address))
        await wait_for_states(channel, all_ready)
        services = ["", *(index_service_name(ix["name"]) for ix in FIXTURE_INDEXES)]
        health = [asyncio.create_task(watch_health(channel, s)) for s in services]
        admin = admin_pb2_grpc.AdminServiceStub(channel)
        streams = [admin.WatchIndexes(admin_pb2.WatchIndexesRequest()) for _ in range(WATCH_STREAMS)]
        for stream in streams:
            assert (await stream.read()).WhichOneof("payload") == "snapshot"
        watches = [asyncio.create_task(drain_watch(stream)) for stream in streams]

        load = Load(server.address)
        clients = [asyncio.create_task(load.client(n)) for n in range(CLIENTS)]
        await asyncio.wait_for(load.warm.wait(), 120)

        server.terminate()
        signalled = time.monotonic()
        in_flight_at_signal = load.in_flight
        exit_code = await server.wait(GRACE_SECONDS + EXIT_SLACK_SECONDS)
        exit_seconds = time.monotonic() - signalled
        load.exited.set()
        await asyncio.wait_for(asyncio.gather(*clients), 60)
        watch_codes = await asyncio.wait_for(asyncio.gather(*watches), 30)
        health_seen = await asyncio.wait_for(asyncio.gather(*health), 30)

    assert exit_code == 0, server.log_tail()
    # The server's own order: health first, then turning callers away, then the listener closes.
    steps = ["shutdown_requested", "health_not_serving", "server_drained", "grpc_server_stopped"]
    assert [e["event"] for e in server.events if e["event"] in steps] == steps
    for service, (statuses, code) in zip(services, health_seen, strict=True):
        assert statuses[:1] == [SERVING] and statuses[-1] == NOT_SERVING, (service, statuses)
        # Having said NOT_SERVING, health streams end cleanly rather than hold the stop for the grace.
        assert code == grpc.StatusCode.OK, (service, code)
    assert load.health_when_turned_away and set(load.health_when_turned_away) == {NOT_SERVING}
    assert watch_codes == [grpc.StatusCode.OK] * WATCH_STREAMS
    # Nothing cut: a call was answered, turned away before it ran (retryable), or could not connect.
    assert in_flight_at_signal > 0  # the signal really landed under load
    answered = [c for c in load.calls if c.code == grpc.StatusCode.OK]
    turned_away = [c for c in load.calls if c.reason == TURNED_AWAY]
    unreachable = [c for c in load.calls if c.after_exit]
    assert len(answered) + len(turned_away) + len(unreachable) == len(load.calls), load.calls
    assert all(c.code == grpc.StatusCode.UNAVAILABLE and c.retry_hint for c in turned_away)
    assert len(unreachable) == len(turned_away)
    assert all((c.code, c.reason) == (grpc.StatusCode.UNAVAILABLE, "") for c in unreachable), unreachable
    # The searches the server started on (it had their query embedded) are exactly those answered.
    embedded = {text for text in relay.texts if text.startswith("client ")}
    assert embedded == {c.query for c in answered}
    print(
        f"\nSIGTERM under load: {len(answered)} searches answered, {in_flight_at_signal} in flight at the "
        f"signal, {len(turned_away)} turned away with {TURNED_AWAY}, {len(unreachable)} retries refused "
        f"at connect; exit 0 after {exit_seconds:.2f}s (grace {GRACE_SECONDS:g}s)"
    )
