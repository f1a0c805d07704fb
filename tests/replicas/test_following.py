"""Several replicas on one database: one indexes, every one serves what it built, the same stream."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import sys
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from semsearch.api.v1 import admin_pb2, search_pb2
from semsearch.app import running
from semsearch.app.replicated import Replication
from semsearch.config import MetricsConfig
from semsearch.proxy.launcher import ProxyProcess
from semsearch.replication.records import Record
from tests.support.oracle import assert_scored_in
from tests.support.replicas import all_serving, followers, indexer, replica_config, start_replicas, until
from tests.support.streams import WatchStream

pytestmark = pytest.mark.slow

QUERY = "restart the validator client"


async def test_every_replica_serves_the_generation_the_indexer_built(
    pg_dsn: str, hash_proxy: ProxyProcess, make_service: Any
) -> None:
    replicas = await start_replicas(make_service, replica_config(hash_proxy.url, pg_dsn), 3)
    lead = indexer(replicas)
    answers = []
    for replica in replicas:
        response = await replica.search.Search(search_pb2.SearchRequest(query=QUERY, top_k=5))
        assert response.hits and not response.unavailable_indexes
        assert_scored_in(QUERY, response, "hash-v1")
        answers.append([(h.index, h.chunk_id, round(h.score, 6)) for h in response.hits])
    assert answers[1:] == answers[:-1]  # the same generation answers the same everywhere
    for follower in followers(replicas):
        # A follower never built anything: its watcher never ran, the vectors came from the store.
        assert follower.app.watcher.ticks == 0
        assert follower.app.replication is not None and follower.app.replication.tail.loads > 0
    assert lead.app.watcher.ticks > 0


async def test_a_reindex_asked_of_a_follower_is_carried_out_by_the_indexer(
    pg_dsn: str, hash_proxy: ProxyProcess, make_service: Any
) -> None:
    replicas = await start_replicas(make_service, replica_config(hash_proxy.url, pg_dsn), 2)
    before = await all_serving(replicas)
    follower = followers(replicas)[0]
    answer = await follower.admin.Reindex(
        admin_pb2.ReindexRequest(indexes=["runbooks"], reason="from a follower")
    )
    assert [ix.name for ix in answer.indexes] == ["runbooks"]
    await until(
        lambda: all(r.app.manager.slots["runbooks"].generation == before["runbooks"] + 1 for r in replicas)
    )
    after = await all_serving(replicas)
    assert after == {**before, "runbooks": before["runbooks"] + 1}


async def test_every_replica_streams_the_same_log(
    pg_dsn: str, hash_proxy: ProxyProcess, make_service: Any
) -> None:
    replicas = await start_replicas(make_service, replica_config(hash_proxy.url, pg_dsn), 3)
    streams = [WatchStream(r) for r in replicas]
    for stream in streams:
        await stream.until(lambda s=stream: len(s.messages) >= 1)
    start = {s.messages[0].log_sequence for s in streams}
    await replicas[1].admin.Reindex(admin_pb2.ReindexRequest(reason="stream test"))

    def swapped(stream: WatchStream) -> bool:
        return sum("stream test" in e.reason for e in stream.events) >= 4  # every index rebuilt

    for stream in streams:
        await stream.until(lambda s=stream: swapped(s))
    for stream in streams:
        await stream.close()
    logs = [
        [(m.log_sequence, m.event.index, m.event.reason, m.event.state) for m in s.messages[1:]]
        for s in streams
    ]
    shortest = min(len(log) for log in logs)
    assert shortest > 0 and all(log[:shortest] == logs[0][:shortest] for log in logs)
    for log in logs:
        positions = [position for position, *_ in log]
        assert positions == list(range(positions[0], positions[0] + len(positions)))  # gap-free
    assert len(start) <= 2  # snapshots taken around the same moment


async def test_a_stream_resumes_on_another_replica_with_no_gap(
    pg_dsn: str, hash_proxy: ProxyProcess, make_service: Any
) -> None:
    replicas = await start_replicas(make_service, replica_config(hash_proxy.url, pg_dsn), 2)
    first = WatchStream(replicas[0])
    await first.until(lambda: len(first.messages) >= 1)
    await replicas[0].admin.Reindex(admin_pb2.ReindexRequest(indexes=["eips"], reason="resume one"))
    await first.until(lambda: any("resume one" in e.reason for e in first.events))
    await first.close()
    last = first.messages[-1]
    await replicas[0].admin.Reindex(admin_pb2.ReindexRequest(indexes=["eips"], reason="resume two"))
    resumed = WatchStream(replicas[1], resume_token=last.resume_token)
    await resumed.until(lambda: any("resume two" in e.reason for e in resumed.events))
    await resumed.close()
    assert resumed.messages[0].HasField("event")
    assert resumed.messages[0].log_sequence == last.log_sequence + 1
    positions = [m.log_sequence for m in resumed.messages]
    assert positions == list(range(positions[0], positions[0] + len(positions)))


async def test_when_the_indexer_stops_another_replica_takes_the_lease_and_indexes(
    pg_dsn: str, hash_proxy: ProxyProcess, make_service: Any
) -> None:
    config = replica_config(hash_proxy.url, pg_dsn)
    async with running(config) as first:  # the first replica up takes the lease
        await until(lambda: first.replication is not None and first.replication.role.leading)
        follower = await make_service(config, ready=False)
        before = await all_serving([follower])
    # The indexer shut down: it released the lease, and the follower takes it.
    await until(lambda: follower.app.replication is not None and follower.app.replication.role.leading)
    await follower.admin.Reindex(admin_pb2.ReindexRequest(indexes=["specs"], reason="new indexer"))
    await until(lambda: follower.app.manager.slots["specs"].generation == before["specs"] + 1)
    assert follower.app.watcher.ticks > 0


async def test_each_replica_reports_what_it_serves_and_its_part_in_metrics(
    pg_dsn: str, hash_proxy: ProxyProcess, make_service: Any
) -> None:
    config = dataclasses.replace(
        replica_config(hash_proxy.url, pg_dsn), metrics=MetricsConfig(listen="127.0.0.1:0")
    )
    replicas = await start_replicas(make_service, config, 2)
    lead = indexer(replicas)
    assert lead.app.replication is not None
    indexer_name = lead.app.replication.name
    wanted = await all_serving(replicas)
    for replica in replicas:
        replication = replica.app.replication
        assert replication is not None
        await until(lambda r=replication: r.heartbeat.head > 0 and r.heartbeat.lag == 0)
        names = sorted(x.app.replication.name for x in replicas if x.app.replication is not None)
        listed = await _reports(
            replication, lambda rs: all(r["serving"] == wanted for r in rs) and len(rs) == 2
        )
        assert [r["name"] for r in listed] == names
        assert [r["name"] for r in listed if r["indexer"]] == [indexer_name]
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"http://127.0.0.1:{replica.app.metrics_port}/metrics")).text
        leading = 1.0 if replica is lead else 0.0
        assert f"semsearch_indexer_lease {leading}" in text
        assert "semsearch_replication_lag_events 0.0" in text
        if replica is not lead:
            assert "semsearch_generation_load_seconds " in text


async def _reports(replication: Replication, done: Callable[[list[Record]], bool]) -> list[Record]:
    """Every live replica's report, once ``done`` holds of them (heartbeats come every second or two)."""
    async with asyncio.timeout(30):
        while not done(listed := await replication.heartbeat.replicas()):  # noqa: ASYNC110 - polls the database
            await asyncio.sleep(0.2)
    return listed


async def test_any_replica_lists_every_replica_and_the_indexer(
    pg_dsn: str, hash_proxy: ProxyProcess, make_service: Any
) -> None:
    replicas = await start_replicas(make_service, replica_config(hash_proxy.url, pg_dsn), 2)
    wanted = await all_serving(replicas)
    lead = indexer(replicas)
    for replica in replicas:
        async with asyncio.timeout(30):
            while True:  # heartbeats come every second or two
                listed = (await replica.admin.ListReplicas(admin_pb2.ListReplicasRequest())).replicas
                if len(listed) == 2 and all(dict(r.serving) == wanted for r in listed):
                    break
                await asyncio.sleep(0.2)
        assert [r.name.endswith(f"/127.0.0.1:{lead.app.port}") for r in listed if r.indexer] == [True]
        assert [r.name for r in listed if r.answering] == [
            n for n in (r.name for r in listed) if n.endswith(f":{replica.app.port}")
        ]


async def test_status_shows_the_indexer_and_what_each_replica_serves(
    pg_dsn: str, hash_proxy: ProxyProcess, make_service: Any
) -> None:
    replicas = await start_replicas(make_service, replica_config(hash_proxy.url, pg_dsn), 2)
    lead = indexer(replicas)
    target = f"127.0.0.1:{followers(replicas)[0].app.port}"
    async with asyncio.timeout(30):
        while True:  # until both heartbeats are in
            done = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "semsearch",
                "status",
                "--target",
                target,
                stdout=asyncio.subprocess.PIPE,
                env={**os.environ, "COLUMNS": "200"},
            )
            out = (await done.communicate())[0].decode()
            fresh = "nothing yet" not in out and " indexer " in out  # both heartbeats since READY
            if done.returncode == 0 and fresh and out.count(" follower") + out.count(" indexer") >= 2:
                break
            await asyncio.sleep(0.3)
    rows = [line for line in out.splitlines() if line.startswith(socket.gethostname() + "/")]
    assert len(rows) == 2
    (lead_row,) = [row for row in rows if f"127.0.0.1:{lead.app.port}" in row]
    assert " indexer " in lead_row and "eips g" in lead_row
    assert any("(this one)" in row and " follower " in row for row in rows)
