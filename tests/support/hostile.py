"""A real server for hostile-input tests, driven through blocking stubs, and the rules every answer obeys.

The server runs in a thread of its own, with its own event loop, embedding with the real hash
provider app; the tests talk to it through blocking stubs, so hypothesis drives plain functions.
Required of every answer: never INTERNAL or UNKNOWN, a rejection is INVALID_ARGUMENT or NOT_FOUND
(RESOURCE_EXHAUSTED for what exceeds a size or stream limit) with a google.rpc.ErrorInfo naming the
reason, a valid request is answered, and the server stays up.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, settings

from semsearch.api.v1 import admin_pb2_grpc, search_pb2, search_pb2_grpc
from semsearch.app import RunningApp, running
from semsearch.config import Config
from semsearch.proxy.app import create_app
from semsearch.service.errors import ERROR_DOMAIN
from tests.support.corpora import FIXTURE_INDEXES
from tests.support.server import fixture_config
from tests.support.status import failure
from tests.support.waiting import wait_all_ready

INDEXES = [ix["name"] for ix in FIXTURE_INDEXES]
CALL_TIMEOUT = 30.0
SETTINGS = settings(
    deadline=None,
    database=None,  # no example files left in the checkout
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
REJECTED = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND}
Metadata = tuple[tuple[str, str], ...]


def examples(count: int) -> settings:
    return settings(SETTINGS, max_examples=count)


@dataclass
class ThreadedServer:
    """The server on an event loop of its own, so blocking stubs (and hypothesis) can drive it."""

    configure: Callable[[Config], Config] = lambda config: config  # e.g. a token, a metrics port
    port: int = 0
    app: RunningApp | None = None
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    started: threading.Event = field(default_factory=threading.Event)
    failed: list[BaseException] = field(default_factory=list)
    _stop: asyncio.Event | None = None

    def run(self) -> None:
        try:
            self.loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported by the fixture, never swallowed
            self.failed.append(exc)
            self.started.set()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        config = self.configure(fixture_config("http://provider.test/v1"))
        provider = httpx.ASGITransport(app=create_app("hash-v1"))
        async with running(config, provider_transport=provider) as app:
            await wait_all_ready(app.manager)
            self.app, self.port = app, app.port
            self.started.set()
            await self._stop.wait()

    def stop(self) -> None:
        assert self._stop is not None
        self.loop.call_soon_threadsafe(self._stop.set)


@dataclass
class Clients:
    server: ThreadedServer
    channel: grpc.Channel
    search: search_pb2_grpc.SearchServiceStub
    admin: admin_pb2_grpc.AdminServiceStub
    outcomes: Counter[str] = field(default_factory=Counter)  # "method STATUS" -> calls, for the report


@contextlib.contextmanager
def hostile_server(
    label: str, configure: Callable[[Config], Config] | None = None, metadata: Metadata = ()
) -> Iterator[Clients]:
    """A READY server and blocking stubs to it; on the way out the server must still answer, must
    stop cleanly, and the calls it took are printed (the figures of the reliability report).
    ``configure`` changes the fixture config; ``metadata`` is what the liveness check sends."""
    server = ThreadedServer() if configure is None else ThreadedServer(configure)
    thread = threading.Thread(target=server.run, name="hostile-input-server", daemon=True)
    thread.start()
    assert server.started.wait(120), "the server did not start"
    assert not server.failed, server.failed
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    clients = Clients(
        server, channel, search_pb2_grpc.SearchServiceStub(channel), admin_pb2_grpc.AdminServiceStub(channel)
    )
    try:
        yield clients
        assert_alive(channel, metadata)  # nothing of the above brought it down
    finally:
        channel.close()
        server.stop()
        thread.join(60)
        assert not thread.is_alive(), "the server did not stop"
        assert not server.failed, server.failed
    total = sum(clients.outcomes.values())
    summary = ", ".join(f"{key}: {count}" for key, count in sorted(clients.outcomes.items()))
    print(f"\nhostile input ({label}): {total} calls; {summary}")


def assert_alive(channel: grpc.Channel, metadata: Metadata = ()) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    answer = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=CALL_TIMEOUT)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    response = search_pb2_grpc.SearchServiceStub(channel).Search(
        search_pb2.SearchRequest(query="restart the validator"), timeout=CALL_TIMEOUT, metadata=metadata
    )
    assert response.hits


def outcome(clients: Clients, method: str, call: Callable[[], Any]) -> tuple[grpc.StatusCode, Any]:
    """Call, and check a failure the way every client may rely on: a documented code and an
    ErrorInfo in the semsearch.v1 domain. Returns the code and the answer (or the Failure)."""
    try:
        answer = call()
    except grpc.RpcError as error:
        assert isinstance(error, grpc.Call)
        code = error.code()
        clients.outcomes[f"{method} {code.name}"] += 1
        assert code not in {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}, error.details()
        got = failure(error)  # type: ignore[arg-type]
        if code is not grpc.StatusCode.RESOURCE_EXHAUSTED or got.error_info is not None:
            assert got.error_info is not None, f"{code.name} without ErrorInfo: {error.details()}"
            assert got.error_info.domain == ERROR_DOMAIN and got.error_info.reason, got
        assert "Traceback" not in (error.details() or "")
        return code, got
    clients.outcomes[f"{method} OK"] += 1
    return grpc.StatusCode.OK, answer
