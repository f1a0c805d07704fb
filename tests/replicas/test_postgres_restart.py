"""PostgreSQL restarts under serving replicas: they answer from memory, then catch up; nothing is lost."""

from __future__ import annotations

import asyncio
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any

import pytest

from semsearch.api.v1 import admin_pb2, search_pb2
from semsearch.proxy.launcher import ProxyProcess
from semsearch.store.embedded import EmbeddedPostgres
from tests.support.replicas import all_serving, followers, indexer, replica_config, start_replicas, until

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_replicas_answer_from_memory_while_the_database_is_down_and_lose_no_request(
    hash_proxy: ProxyProcess, make_service: Any
) -> None:
    # Under /tmp itself: the server may run as an unprivileged user that cannot enter pytest's folders.
    folder = Path(tempfile.mkdtemp(prefix="semsearch-restart-"))
    # Durable: a restart keeps what was committed. A non-durable server stops the immediate way
    # with commits still unflushed, and may come back without the schema itself.
    database = EmbeddedPostgres(folder, port=_free_port(), durable=True)
    dsn = await asyncio.to_thread(database.start)
    try:
        replicas = await start_replicas(make_service, replica_config(hash_proxy.url, dsn), 2)
        before = await all_serving(replicas)
        follower = followers(replicas)[0]

        await asyncio.to_thread(database.stop)
        for replica in replicas:  # served from memory: the database is not on the search path
            response = await replica.search.Search(search_pb2.SearchRequest(query="blob fee market", top_k=3))
            assert response.hits and not response.unavailable_indexes
        # Asked while the database is away: kept by the replica and handed on once it is back.
        await follower.admin.Reindex(admin_pb2.ReindexRequest(indexes=["eips"], reason="during the outage"))

        await asyncio.to_thread(database.start)
        wanted = before["eips"] + 1
        await until(lambda: all(r.app.manager.slots["eips"].generation >= wanted for r in replicas), 120)
        after = await all_serving(replicas)
        assert after["eips"] >= wanted
        await until(lambda: _one_indexer(replicas), 60)
    finally:
        await asyncio.to_thread(database.stop)
        shutil.rmtree(folder, ignore_errors=True)


def _one_indexer(replicas: list[Any]) -> bool:
    try:
        indexer(replicas)
    except AssertionError:
        return False
    return True
