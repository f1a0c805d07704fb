"""Driving a planned model migration over gRPC: requests held in flight, search load re-scored as it
arrives, a watch stream kept whole, and the check that the swap of every index is one step."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from typing import Any

import grpc
import httpx
import pytest

from semsearch.api.v1 import admin_pb2, search_pb2, types_pb2
from semsearch.embeddings import PROBE_TEXT
from semsearch.lifecycle import IndexManager, MigrationPhase
from tests.support.oracle import assert_scored_in
from tests.support.server import Service
from tests.support.status import failure
from tests.support.streams import WatchStream

READY = types_pb2.INDEX_STATE_READY
BUILDING, SUCCEEDED, FAILED, CANCELLED, ABORTED = (
    admin_pb2.MIGRATION_STATE_BUILDING,
    admin_pb2.MIGRATION_STATE_SUCCEEDED,
    admin_pb2.MIGRATION_STATE_FAILED,
    admin_pb2.MIGRATION_STATE_CANCELLED,
    admin_pb2.MIGRATION_STATE_ABORTED,
)
QUERIES = [
    "restart the validator",
    "blob fee market",
    "fork choice head",
    "disk usage query",
    "sync committee",
]
CLIENT_CHOSEN = {"regime": "client-chosen"}


def body_of(request: httpx.Request) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(request.content)
    return parsed


def is_batch_for(model: str) -> Callable[[httpx.Request], bool]:
    """A build batch naming ``model``: documents, the probe text riding along (a probe is it alone)."""

    def check(request: httpx.Request) -> bool:
        body = body_of(request)
        return (
            body["model"] == model and body.get("input_type") == "document" and body["input"] != [PROBE_TEXT]
        )

    return check


class Gate(httpx.AsyncBaseTransport):
    """Between the server and the proxy: holds chosen requests until the test opens the gate, so a test
    can look at the service while a build (or a query) is provably in flight."""

    def __init__(self, holds: Callable[[httpx.Request], bool]) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.holds = holds
        self.open = asyncio.Event()
        self.open.set()
        self.held = asyncio.Event()  # a request is being held
        self.cancelled = asyncio.Event()  # its caller gave up on a held request

    def close_gate(self) -> None:
        self.open.clear()
        self.held.clear()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self.open.is_set() and self.holds(request):
            self.held.set()
            try:
                await self.open.wait()
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class Load:
    """Concurrent searchers, multi-index and single-index; every answer re-scored as it arrives.

    Nothing may fail: a refusal or an error is recorded and fails the test. ``answers`` holds, per
    search, the ticket when it was sent, the ticket when it came back, and the model it answered in.
    """

    def __init__(self, service: Service, workers: int = 4) -> None:
        self.service = service
        self.tickets = itertools.count()
        self.answers: list[tuple[int, int, str]] = []
        self.failures: list[str] = []
        self._stop = asyncio.Event()
        self._answered = asyncio.Condition()
        self._tasks = [asyncio.create_task(self._work(i)) for i in range(workers)]

    async def answered(self, count: int, timeout: float = 30) -> None:
        target = len(self.answers) + count
        async with asyncio.timeout(timeout), self._answered:
            await self._answered.wait_for(lambda: len(self.answers) >= target or bool(self.failures))

    async def _work(self, worker: int) -> None:
        names: list[list[str]] = [[], ["runbooks"], [], ["eips", "specs"], []]
        for n in itertools.count(worker):
            if self._stop.is_set():
                return
            query, indexes = QUERIES[n % len(QUERIES)], names[n % len(names)]
            sent = next(self.tickets)
            try:
                response = await self.service.search.Search(
                    search_pb2.SearchRequest(query=query, indexes=indexes, top_k=8), timeout=10
                )
                assert_scored_in(query, response)
                assert not response.unavailable_indexes, response.unavailable_indexes
            except (grpc.aio.AioRpcError, AssertionError) as exc:
                self.failures.append(f"{query!r} on {indexes or 'all'}: {exc!r}")
            else:
                self.answers.append((sent, next(self.tickets), response.query_space.model))
            async with self._answered:
                self._answered.notify_all()

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)


def migration_in(manager: IndexManager, *phases: MigrationPhase) -> Callable[[], bool]:
    def check() -> bool:
        status = manager.migration.status if manager.migration is not None else None
        return status is not None and status.phase in phases

    return check


def spaces(service: Service) -> set[tuple[str, int]]:
    return {(s.space.model, s.generation) for s in service.app.manager.statuses() if s.space}


async def indexes(service: Service) -> list[types_pb2.Index]:
    return list((await service.admin.ListIndexes(admin_pb2.ListIndexesRequest())).indexes)


async def migrate(service: Service, model: str) -> admin_pb2.Migration:
    response = await service.admin.MigrateModel(admin_pb2.MigrateModelRequest(model=model, reason="test"))
    return response.migration


async def refused(call: Any) -> tuple[grpc.StatusCode, str, Any]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    got = failure(caught.value)
    assert got.error_info is not None and got.error_info.domain == "semsearch.v1"
    return got.code, got.error_info.reason, got


def assert_one_step(stream: WatchStream, target: str) -> None:
    """Applied event by event, READY indexes sit in two spaces only inside the swap's atomic step,
    whose events arrive back to back; applied step by step they never do."""
    view = {ix.name: ix for ix in stream.messages[0].snapshot.indexes}
    swap = [e for e in stream.events if e.reason.startswith(f"migrated to {target}/")]
    assert [e.step_remaining for e in swap] == list(range(len(view) - 1, -1, -1))
    positions = [stream.events.index(e) for e in swap]
    assert positions == list(range(positions[0], positions[0] + len(view))), "the swap was interleaved"
    for change in stream.events:
        view[change.index] = change.current
        if change.step_remaining == 0:
            ready = {ix.space.model for ix in view.values() if ix.state == READY}
            assert len(ready) == 1, f"after {change.reason!r}, READY indexes sit in {ready}"
