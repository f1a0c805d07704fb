"""Planned model migration over gRPC: MigrateModel and CancelMigration against a proxy serving several
models side by side, under continuous search load.

Every hit is re-scored by the oracle (tests/support/oracle.py) in the space its response names, so a
search that mixed two spaces cannot pass; the swap of every index is checked to be one step both in
the answers (no search started after the first new-space answer comes back in the old space) and on
the watch stream (its events are one atomic step).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import pytest

from semsearch.api.v1 import admin_pb2, search_pb2, types_pb2
from semsearch.config import parse_config
from semsearch.corpus import load_corpus
from semsearch.embeddings import PROBE_TEXT
from semsearch.lifecycle import IndexManager, MigrationPhase
from semsearch.lifecycle.watcher import Outcome
from semsearch.proxy.launcher import ProxyProcess, start_proxy
from tests.support.faults import FaultTransport, status
from tests.support.ops_docs import PARAPHRASES, write_docs
from tests.support.oracle import assert_scored_in, vector
from tests.support.server import Service, fixture_config
from tests.support.status import failure
from tests.support.waiting import wait_for

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


@pytest.fixture
async def two_models() -> AsyncIterator[ProxyProcess]:
    """A real proxy serving hash-v1 and hash-v2 side by side, chosen by each request's model."""
    async with start_proxy(models=["hash-v1", "hash-v2"]) as proxy:
        yield proxy


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


class Stream:
    """One WatchIndexes stream, kept whole for the assertions."""

    def __init__(self, service: Service) -> None:
        self.messages: list[admin_pb2.WatchIndexesResponse] = []
        self.call = service.admin.WatchIndexes(admin_pb2.WatchIndexesRequest())
        self._received = asyncio.Condition()
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
            async for message in self.call:
                self.messages.append(message)
                async with self._received:
                    self._received.notify_all()

    @property
    def events(self) -> list[admin_pb2.IndexEvent]:
        return [m.event for m in self.messages if m.HasField("event")]

    async def until(self, condition: Callable[[], bool], timeout: float = 30) -> None:
        async with asyncio.timeout(timeout), self._received:
            await self._received.wait_for(condition)

    async def close(self) -> None:
        self.call.cancel()
        await self.task


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


def assert_one_step(stream: Stream, target: str) -> None:
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


async def test_a_migration_under_load_swaps_every_index_at_once_and_no_search_fails(
    two_models: ProxyProcess, make_service: Any
) -> None:
    gate = Gate(is_batch_for("hash-v2"))
    # No query cache: every search embeds, so searches are in flight at the swap.
    config = fixture_config(two_models.url, cache={"query_cache_size": 0}, **CLIENT_CHOSEN)
    service: Service = await make_service(config, transport=gate)
    before = {ix.name: ix.generation for ix in await indexes(service)}
    stream = Stream(service)
    await stream.until(lambda: bool(stream.messages))
    load = Load(service)
    await load.answered(20)

    gate.close_gate()
    started = await migrate(service, "hash-v2")
    assert (started.state, started.source_model, started.target_model) == (BUILDING, "hash-v1", "hash-v2")
    assert started.target_space.model == "hash-v2" and started.indexes_total == len(before)
    await asyncio.wait_for(gate.held.wait(), 30)
    await load.answered(20)  # answered while the first shadow build is held: the current model serves
    assert {ix.state for ix in await indexes(service)} == {READY}
    gate.open.set()
    manager = service.app.manager
    await wait_for(manager, migration_in(manager, MigrationPhase.SUCCEEDED))
    await load.answered(20)
    await load.stop()

    assert not load.failures, load.failures[:5]
    assert {model for _, _, model in load.answers} == {"hash-v1", "hash-v2"}
    first_new = min(done for _, done, model in load.answers if model == "hash-v2")
    late_old = [(sent, model) for sent, _, model in load.answers if sent > first_new and model != "hash-v2"]
    assert not late_old, "a search sent after the swap answered in the old space"

    after = await indexes(service)
    assert {(ix.name, ix.state, ix.space.model, ix.generation) for ix in after} == {
        (name, READY, "hash-v2", generation + 1) for name, generation in before.items()
    }
    assert not any(ix.HasField("shadow") for ix in after)
    space = await service.admin.GetEmbeddingSpace(admin_pb2.GetEmbeddingSpaceRequest())
    assert (space.built_space.model, space.provider_space.model) == ("hash-v2", "hash-v2")
    assert space.migration.state == SUCCEEDED and space.migration.indexes_built == len(before)
    assert space.migration.progress.chunks_done == space.migration.progress.chunks_total > 0
    # The watcher agrees: its next tick finds every index in the space it probes, and rebuilds nothing.
    assert await service.app.watcher.tick() is Outcome.SETTLED
    assert {ix.generation for ix in await indexes(service)} == {g + 1 for g in before.values()}

    await stream.until(lambda: any(e.reason.startswith("migrated to") for e in stream.events))
    await stream.close()
    assert_one_step(stream, "hash-v2")
    building = [e for e in stream.events if e.migration.state == BUILDING]
    assert building and all(e.previous_state == e.state == READY for e in building)
    assert {e.current.shadow.generation - e.current.generation for e in building} == {1}
    assert {e.current.shadow.space.model for e in building} == {"hash-v2"}
    assert all(e.current.space.model == "hash-v1" for e in building)  # serving the old one meanwhile


async def test_a_search_in_flight_across_the_swap_is_answered_in_the_new_space(
    two_models: ProxyProcess, make_service: Any
) -> None:
    held_queries = Gate(
        lambda r: body_of(r)["model"] == "hash-v1" and body_of(r).get("input_type") == "query"
    )
    config = fixture_config(two_models.url, cache={"query_cache_size": 0}, **CLIENT_CHOSEN)
    service: Service = await make_service(config, transport=held_queries)
    held_queries.close_gate()
    search = asyncio.ensure_future(service.search.Search(search_pb2.SearchRequest(query="blob fee market")))
    await asyncio.wait_for(held_queries.held.wait(), 30)  # embedded by hash-v1, answer not yet back

    await migrate(service, "hash-v2")
    manager = service.app.manager
    await wait_for(manager, migration_in(manager, MigrationPhase.SUCCEEDED))
    held_queries.open.set()
    response = await search

    # Its hash-v1 vector could not be scored against hash-v2 indexes: it was embedded again.
    assert response.query_space.model == "hash-v2" and not response.unavailable_indexes
    assert response.hits
    assert_scored_in("blob fee market", response)


async def test_a_failed_target_build_leaves_the_current_model_serving_and_a_retry_succeeds(
    two_models: ProxyProcess, make_service: Any
) -> None:
    failing = True
    target_batches = is_batch_for("hash-v2")
    seen = itertools.count(1)

    def after_two_batches(request: httpx.Request) -> Any:
        if failing and target_batches(request) and next(seen) > 2:
            return status(500, body=b'{"error": {"message": "injected"}}')
        return None

    faults = FaultTransport(httpx.AsyncHTTPTransport(), when=after_two_batches)
    config = fixture_config(two_models.url, max_retries=1, **CLIENT_CHOSEN)
    service: Service = await make_service(config, transport=faults)
    manager = service.app.manager
    before = {ix.name: ix.generation for ix in await indexes(service)}
    stream = Stream(service)

    await migrate(service, "hash-v2")
    await wait_for(manager, migration_in(manager, MigrationPhase.FAILED))

    after = await indexes(service)
    assert {(ix.name, ix.state, ix.space.model, ix.generation, ix.last_error) for ix in after} == {
        (name, READY, "hash-v1", generation, "") for name, generation in before.items()
    }
    assert not any(ix.HasField("shadow") for ix in after)
    reported = (await service.admin.GetEmbeddingSpace(admin_pb2.GetEmbeddingSpaceRequest())).migration
    assert reported.state == FAILED and "500" in reported.error and reported.HasField("finished_at")
    assert reported.indexes_built < reported.indexes_total
    await stream.until(lambda: any(e.migration.state == FAILED for e in stream.events))
    failed = [e for e in stream.events if e.migration.state == FAILED]
    assert {e.index for e in failed} == set(before) and all(e.state == READY for e in failed)
    answer = await service.search.Search(search_pb2.SearchRequest(query="sync committee"))
    assert answer.query_space.model == "hash-v1" and not answer.unavailable_indexes
    assert_scored_in("sync committee", answer)

    failing = False
    retried = await migrate(service, "hash-v2")
    assert retried.state == BUILDING and not retried.error
    await wait_for(manager, migration_in(manager, MigrationPhase.SUCCEEDED))
    assert {(ix.state, ix.space.model) for ix in await indexes(service)} == {(READY, "hash-v2")}
    answer = await service.search.Search(search_pb2.SearchRequest(query="sync committee"))
    assert answer.query_space.model == "hash-v2"
    assert_scored_in("sync committee", answer)
    await stream.close()


async def test_a_model_the_provider_does_not_serve_is_refused(
    two_models: ProxyProcess, make_service: Any
) -> None:
    service: Service = await make_service(fixture_config(two_models.url, **CLIENT_CHOSEN))
    code, reason, got = await refused(migrate(service, "hash-v9"))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "MODEL_NOT_SERVED")
    assert got.error_info.metadata["model"] == "hash-v9" and "404" in got.message
    code, reason, _ = await refused(migrate(service, "hash-v1"))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "MODEL_ALREADY_CURRENT")
    for bad in ("", " hash-v2", "hash\nv2", "x" * 201):
        code, reason, got = await refused(migrate(service, bad))
        assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_MODEL")
        assert got.bad_request.field_violations[0].field == "model"
    space = await service.admin.GetEmbeddingSpace(admin_pb2.GetEmbeddingSpaceRequest())
    assert not space.HasField("migration")  # nothing started
    assert {(ix.state, ix.space.model, ix.generation) for ix in await indexes(service)} == {
        (READY, "hash-v1", 1)
    }


async def test_a_provider_that_chooses_the_model_itself_cannot_be_migrated(
    hash_proxy: ProxyProcess, make_service: Any
) -> None:
    # A single-model proxy ignores the requested name: it answers hash-v2 requests as hash-v1.
    service: Service = await make_service(fixture_config(hash_proxy.url, **CLIENT_CHOSEN))
    code, reason, got = await refused(migrate(service, "hash-v2"))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "MODEL_NOT_SERVED")
    assert "answered as 'hash-v1'" in got.message
    provider_chosen: Service = await make_service(fixture_config(hash_proxy.url))
    code, reason, _ = await refused(migrate(provider_chosen, "hash-v2"))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "MODEL_CHOSEN_BY_PROVIDER")


async def test_cancel_stops_a_running_migration_and_the_current_model_keeps_serving(
    two_models: ProxyProcess, make_service: Any
) -> None:
    gate = Gate(is_batch_for("hash-v2"))
    service: Service = await make_service(fixture_config(two_models.url, **CLIENT_CHOSEN), transport=gate)
    code, reason, _ = await refused(service.admin.CancelMigration(admin_pb2.CancelMigrationRequest()))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "NO_MIGRATION_RUNNING")
    gate.close_gate()
    started = await migrate(service, "hash-v2")
    await asyncio.wait_for(gate.held.wait(), 30)

    again = await migrate(service, "hash-v2")  # the same request again: the same migration
    assert (again.state, again.started_at) == (BUILDING, started.started_at)
    code, reason, got = await refused(migrate(service, "hash-v3"))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "MIGRATION_IN_PROGRESS")
    assert got.error_info.metadata["target"] == "hash-v2"
    shadowed = [ix for ix in await indexes(service) if ix.HasField("shadow")]
    assert shadowed and shadowed[0].shadow.space.model == "hash-v2" and not shadowed[0].shadow.built

    cancelled = await service.admin.CancelMigration(
        admin_pb2.CancelMigrationRequest(reason="changed my mind")
    )
    assert cancelled.migration.state == CANCELLED and "changed my mind" in cancelled.migration.error
    assert gate.cancelled.is_set()  # the held batch was given up, not left running
    listed = await indexes(service)
    assert {(ix.state, ix.space.model, ix.generation) for ix in listed} == {(READY, "hash-v1", 1)}
    assert not any(ix.HasField("shadow") for ix in listed)
    code, reason, got = await refused(service.admin.CancelMigration(admin_pb2.CancelMigrationRequest()))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "NO_MIGRATION_RUNNING")
    assert "CANCELLED" in got.message

    gate.open.set()
    await migrate(service, "hash-v2")
    manager = service.app.manager
    await wait_for(manager, migration_in(manager, MigrationPhase.SUCCEEDED))
    assert {(ix.space.model, ix.generation) for ix in await indexes(service)} == {("hash-v2", 2)}


async def test_a_model_swapped_behind_the_current_name_aborts_the_migration_and_heals(
    two_models: ProxyProcess, make_service: Any
) -> None:
    gate = Gate(is_batch_for("hash-v2"))
    service: Service = await make_service(fixture_config(two_models.url, **CLIENT_CHOSEN), transport=gate)
    manager = service.app.manager
    gate.close_gate()
    await migrate(service, "hash-v2")
    await asyncio.wait_for(gate.held.wait(), 30)

    # The provider now serves another model under the current name: the same name, another fingerprint.
    await two_models.switch_model("hash-v3", serve_as="hash-v1")
    manager.wake("test: the provider changed")
    await wait_for(manager, migration_in(manager, MigrationPhase.ABORTED))
    await wait_for(manager, lambda: manager.all_ready() and spaces(service) == {("hash-v1", 2)})
    gate.open.set()

    probe = vector("hash-v3", PROBE_TEXT, "document")
    for ix in await indexes(service):
        assert (ix.state, ix.space.model) == (READY, "hash-v1")
        assert np.allclose(ix.space.fingerprint, probe, atol=1e-6)  # rebuilt behind the same name
        assert not ix.HasField("shadow")
    reported = (await service.admin.GetEmbeddingSpace(admin_pb2.GetEmbeddingSpaceRequest())).migration
    assert reported.state == ABORTED and "stopped serving" in reported.error
    assert manager.provider.model == "hash-v1"


@pytest.mark.slow
async def test_e5_small_to_minilm_under_load_with_no_failed_search(tmp_path: Path, make_service: Any) -> None:
    docs = write_docs(tmp_path / "docs")
    chunk_text = {c.id: c.text for d in load_corpus("markdown", docs, {}) for c in d.chunks}
    gate = Gate(is_batch_for("minilm"))
    async with start_proxy(models=["e5-small", "minilm"], startup_timeout=240) as proxy:
        config = parse_config(
            {
                "server": {"listen": "127.0.0.1:0", "grace_seconds": 1.0},
                "embeddings": {"url": proxy.url, "model": "e5-small", "batch_size": 4, **CLIENT_CHOSEN},
                "watcher": {
                    "interval_seconds": 600.0,
                    "backoff_base_seconds": 0.1,
                    "backoff_cap_seconds": 0.5,
                },
                "cache": {"path": "", "query_cache_size": 0},
                "index": [{"name": "ops", "kind": "markdown", "path": str(docs)}],
            },
            tmp_path,
            env={},
        )
        service: Service = await make_service(config, transport=gate)
        manager = service.app.manager
        answers: list[tuple[str, search_pb2.SearchResponse]] = []
        failures: list[str] = []
        stop = asyncio.Event()
        answered = asyncio.Condition()

        async def search_loop(worker: int) -> None:
            for n in itertools.count(worker):
                if stop.is_set():
                    return
                question = PARAPHRASES[n % len(PARAPHRASES)][0]
                try:
                    answers.append(
                        (question, await service.search.Search(search_pb2.SearchRequest(query=question)))
                    )
                except grpc.aio.AioRpcError as exc:
                    failures.append(repr(exc))
                async with answered:
                    answered.notify_all()

        async def more_answers(count: int) -> None:
            target = len(answers) + count
            async with asyncio.timeout(240), answered:
                await answered.wait_for(lambda: len(answers) >= target or bool(failures))

        workers = [asyncio.create_task(search_loop(i)) for i in range(2)]
        try:
            await more_answers(3)
            gate.close_gate()
            await migrate(service, "minilm")
            await asyncio.wait_for(gate.held.wait(), 60)
            await more_answers(3)  # while the minilm shadow is being built
            gate.open.set()
            await wait_for(
                manager, migration_in(manager, MigrationPhase.SUCCEEDED, MigrationPhase.FAILED), 300
            )
            await more_answers(3)
        finally:
            stop.set()
            await asyncio.gather(*workers)
        assert manager.migration is not None and manager.migration.status is not None
        assert manager.migration.status.phase is MigrationPhase.SUCCEEDED, manager.migration.status.error
        for question, document in PARAPHRASES:
            after = await service.search.Search(search_pb2.SearchRequest(query=question))
            assert (after.query_space.model, after.hits[0].document_id) == ("minilm", document)

    assert not failures, failures[:3]
    assert {r.query_space.model for _, r in answers} == {"e5-small", "minilm"}
    for question, response in answers:
        assert_scored_in(question, response, text_of=lambda hit: chunk_text[hit.chunk_id], tolerance=2e-3)
