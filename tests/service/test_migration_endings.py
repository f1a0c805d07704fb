"""Planned model migration over gRPC, the endings other than success: a failed target build, a
cancel, and a model swapped behind the current name that aborts the migration. Each leaves the
current model serving (or the watcher healing it), drops the shadows, and reports how it ended.
Helpers: tests/support/migration.py.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import grpc
import httpx

from semsearch.api.v1 import admin_pb2, search_pb2
from semsearch.embeddings import PROBE_TEXT
from semsearch.embeddings.digest import fingerprint_digest
from semsearch.lifecycle import MigrationPhase
from semsearch.proxy.launcher import ProxyProcess
from tests.support.faults import FaultTransport, status
from tests.support.migration import (
    ABORTED,
    BUILDING,
    CANCELLED,
    CLIENT_CHOSEN,
    FAILED,
    READY,
    Gate,
    indexes,
    is_batch_for,
    migrate,
    migration_in,
    refused,
    spaces,
)
from tests.support.oracle import assert_scored_in, vector
from tests.support.server import Service, fixture_config
from tests.support.streams import WatchStream
from tests.support.waiting import wait_for


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
    stream = WatchStream(service)

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

    probe = fingerprint_digest(vector("hash-v3", PROBE_TEXT, "document"))
    for ix in await indexes(service):
        assert (ix.state, ix.space.model) == (READY, "hash-v1")
        assert ix.space.fingerprint_digest == probe  # rebuilt behind the same name
        assert not ix.HasField("shadow")
    reported = (await service.admin.GetEmbeddingSpace(admin_pb2.GetEmbeddingSpaceRequest())).migration
    assert reported.state == ABORTED and "stopped serving" in reported.error
    assert manager.provider.model == "hash-v1"
