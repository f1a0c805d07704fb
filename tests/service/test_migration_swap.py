"""Planned model migration over gRPC, the swap: MigrateModel against a proxy serving several models
side by side, under continuous search load, ends with every index in the target model at once.

Every hit is re-scored by the oracle (tests/support/oracle.py) in the space its response names, so a
search that mixed two spaces cannot pass; the swap of every index is checked to be one step both in
the answers (no search started after the first new-space answer comes back in the old space) and on
the watch stream (its events are one atomic step). Helpers: tests/support/migration.py.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import grpc
import pytest

from semsearch.api.v1 import admin_pb2, search_pb2
from semsearch.config import parse_config
from semsearch.corpus import load_corpus
from semsearch.lifecycle import MigrationPhase
from semsearch.lifecycle.watcher import Outcome
from semsearch.proxy.launcher import ProxyProcess, start_proxy
from tests.support.migration import (
    BUILDING,
    CLIENT_CHOSEN,
    READY,
    SUCCEEDED,
    Gate,
    Load,
    assert_one_step,
    body_of,
    indexes,
    is_batch_for,
    migrate,
    migration_in,
)
from tests.support.ops_docs import PARAPHRASES, write_docs
from tests.support.oracle import assert_scored_in
from tests.support.server import Service, fixture_config
from tests.support.streams import WatchStream
from tests.support.waiting import wait_for


async def test_a_migration_under_load_swaps_every_index_at_once_and_no_search_fails(
    two_models: ProxyProcess, make_service: Any
) -> None:
    gate = Gate(is_batch_for("hash-v2"))
    # No query cache: every search embeds, so searches are in flight at the swap.
    config = fixture_config(two_models.url, cache={"query_cache_size": 0}, **CLIENT_CHOSEN)
    service: Service = await make_service(config, transport=gate)
    before = {ix.name: ix.generation for ix in await indexes(service)}
    stream = WatchStream(service)
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
