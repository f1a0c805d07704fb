"""Real `semsearch serve` replicas on one PostgreSQL: the indexer is killed, another takes over."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import psycopg
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from semsearch.api.v1 import admin_pb2_grpc, search_pb2, search_pb2_grpc
from semsearch.embeddings.cache import text_key
from semsearch.proxy.launcher import ProxyProcess
from semsearch.service.health import index_service_name
from tests.e2e.test_crash_safety import chunk_texts, interrupt_mid_rebuild, write_runbooks
from tests.support.corpora import FIXTURE_CORPORA
from tests.support.oracle import assert_scored_in
from tests.support.process import ServerProcess, serve_process, write_config
from tests.support.relay import relay_to

pytestmark = pytest.mark.slow

SERVING = health_pb2.HealthCheckResponse.SERVING


async def serving_everything(channel: grpc.aio.Channel, names: list[str], timeout: float = 120) -> None:
    """Until this replica's own health says it serves every index."""
    health = health_pb2_grpc.HealthStub(channel)
    async with asyncio.timeout(timeout):
        while True:
            answers = [
                await health.Check(health_pb2.HealthCheckRequest(service=index_service_name(name)))
                for name in names
            ]
            if all(a.status == SERVING for a in answers):
                return
            await asyncio.sleep(0.1)


async def leads(server: ServerProcess, timeout: float = 60) -> None:
    await server.wait_event(lambda e: e.get("event") == "lease_acquired", timeout)


async def test_kill_9_of_the_indexer_mid_rebuild_hands_the_work_to_another_replica(
    hash_proxy: ProxyProcess, pg_dsn: str, tmp_path: Path
) -> None:
    corpora = {
        "runbooks": FIXTURE_CORPORA / "markdown",
        "bulk": write_runbooks(tmp_path / "bulk", documents=250),
    }
    indexes = [{"name": name, "kind": "markdown", "path": str(path)} for name, path in corpora.items()]
    texts = {t for path in corpora.values() for t in chunk_texts("markdown", path)}
    async with relay_to(hash_proxy.url) as relay:
        config = write_config(
            tmp_path / "replica.toml",
            relay.url,
            indexes,
            embeddings={"batch_size": 2, "concurrency": 1},
            store={"backend": "postgres", "dsn": pg_dsn, "poll_seconds": 0.2},
        )
        async with serve_process(config) as first:
            await leads(first)
            async with (
                serve_process(config) as second,
                grpc.aio.insecure_channel(first.address) as to_first,
                grpc.aio.insecure_channel(second.address) as to_second,
            ):
                await interrupt_mid_rebuild(admin_pb2_grpc.AdminServiceStub(to_first), "bulk")
                first.kill()  # kill -9: no handler, no release; its connections just drop
                await first.wait(30)
                sent_before = len(relay.texts)
                cached = _cached(pg_dsn, sorted(texts))
                assert cached, "nothing was cached before the kill: the test did not interrupt a rebuild"

                await leads(second)
                await serving_everything(to_second, list(corpora))
                response = await search_pb2_grpc.SearchServiceStub(to_second).Search(
                    search_pb2.SearchRequest(query="alarm fires runbook step", top_k=10)
                )
                assert response.hits and not response.unavailable_indexes
                assert_scored_in(
                    "alarm fires runbook step", response, "hash-v1", text_of=_texts_by_hit(corpora)
                )
    again = [t for t in relay.texts[sent_before:] if t in texts]
    assert not set(again) & cached, "a chunk cached before the kill was embedded again"
    assert set(again) | cached >= {t for t in texts if t not in cached} | cached


def _cached(dsn: str, texts: list[str]) -> set[str]:
    """The texts whose document vectors the shared cache holds (one space in this test)."""
    with psycopg.connect(dsn) as conn:
        keys = {
            bytes(row[0]) for row in conn.execute("SELECT sha256 FROM cache_vectors WHERE task = 'document'")
        }
    return {text for text in texts if text_key(text) in keys}


def _texts_by_hit(corpora: dict[str, Path]):  # type: ignore[no-untyped-def]
    from semsearch.corpus import load_corpus

    by_id = {
        (name, chunk.id): chunk.text
        for name, path in corpora.items()
        for doc in load_corpus("markdown", path, {})
        for chunk in doc.chunks
    }
    return lambda hit: by_id[(hit.index, hit.chunk_id)]
