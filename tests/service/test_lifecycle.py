"""Self-healing over gRPC: model switches under search load, detection, health and watch streams.

Every hit is checked by the oracle (tests/support/oracle.py): its score is recomputed with the
hash model named in the response; a hit scored across two spaces cannot match.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from semsearch.api.v1 import admin_pb2, search_pb2, types_pb2
from semsearch.app import running
from semsearch.lifecycle import IndexManager
from semsearch.proxy.launcher import ProxyProcess
from tests.support.oracle import assert_scored_in
from tests.support.server import Service, feed_caught_up, fixture_config
from tests.support.status import failure
from tests.support.streams import WatchStream
from tests.support.waiting import wait_all_ready, wait_for

READY, PARKED, REBUILDING = (
    types_pb2.INDEX_STATE_READY,
    types_pb2.INDEX_STATE_PARKED,
    types_pb2.INDEX_STATE_REBUILDING,
)
REFUSALS = {"INDEX_NOT_READY", "EMBEDDING_SPACE_CHANGED"}
QUERIES = [
    "restart the validator",
    "blob fee market",
    "fork choice head",
    "disk usage query",
    "sync committee",
]


def in_space(manager: IndexManager, model: str) -> bool:
    return manager.all_ready() and {s.space.model for s in manager.statuses() if s.space} == {model}


async def settle(service: Service, model: str) -> None:
    manager = service.app.manager
    await wait_for(manager, lambda: in_space(manager, model), timeout=60)
    await asyncio.wait_for(service.app.watcher.settled.wait(), 60)
    assert manager.built_space is not None and manager.built_space.model == model
    await feed_caught_up(service)


class Load:
    """Concurrent searchers recording every outcome, checked by the oracle as they go."""

    def __init__(self, service: Service, workers: int = 4) -> None:
        self.service = service
        self.ok: list[str] = []
        self.refused: list[str] = []
        self.partial: list[str] = []
        self._stop = asyncio.Event()
        self._answered = asyncio.Condition()
        self._tasks = [asyncio.create_task(self._work(i)) for i in range(workers)]

    async def answered(self, count: int, timeout: float = 30) -> None:
        """Wait until ``count`` more searches have been answered."""
        target = len(self.ok) + count
        async with asyncio.timeout(timeout), self._answered:
            await self._answered.wait_for(lambda: len(self.ok) >= target)

    async def _work(self, worker: int) -> None:
        names: list[list[str]] = [[], ["runbooks"], ["eips"], ["specs"], ["examples"]]
        for n in itertools.count(worker):
            if self._stop.is_set():
                return
            query, indexes = QUERIES[n % len(QUERIES)], names[n % len(names)]
            try:
                response = await self.service.search.Search(
                    search_pb2.SearchRequest(query=query, indexes=indexes, top_k=5), timeout=10
                )
            except grpc.aio.AioRpcError as exc:
                got = failure(exc)
                assert got.code == grpc.StatusCode.UNAVAILABLE, got
                assert got.error_info is not None and got.error_info.reason in REFUSALS, got
                assert got.retry_info is not None
                self.refused.append(got.error_info.reason)
                continue
            assert_scored_in(query, response)
            self.ok.append(response.query_space.model)
            async with self._answered:
                self._answered.notify_all()
            for missing in response.unavailable_indexes:
                assert missing.reason in REFUSALS
                self.partial.append(missing.reason)

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)


async def test_a_model_switch_under_load_parks_rebuilds_and_never_mixes(
    hash_proxy: ProxyProcess, make_service: Any
) -> None:
    service: Service = await make_service(fixture_config(hash_proxy.url, watcher={"interval_seconds": 0.2}))
    subscriber = WatchStream(service)
    await subscriber.until(lambda: bool(subscriber.messages))
    load = Load(service)
    await load.answered(20)
    await hash_proxy.switch_model("hash-v2")
    await settle(service, "hash-v2")
    await load.answered(20)
    await load.stop()
    await subscriber.close()

    print(
        f"\nswitch under load: {len(load.ok)} searches answered, {len(load.refused)} refused "
        f"({sorted(set(load.refused))}), {len(load.partial)} partial-index refusals"
    )
    assert set(load.ok) == {"hash-v1", "hash-v2"}
    assert load.ok[-1] == "hash-v2"
    first = subscriber.messages[0]
    assert first.sequence == 1 and first.WhichOneof("payload") == "snapshot"
    assert [m.sequence for m in subscriber.messages] == list(range(1, len(subscriber.messages) + 1))
    transitions = subscriber.transitions()
    for name in ("runbooks", "eips", "specs", "examples"):
        assert transitions[name] == [(READY, PARKED), (PARKED, REBUILDING), (REBUILDING, READY)], name
    events = [m.event for m in subscriber.messages[1:]]
    last_park = max(i for i, e in enumerate(events) if e.state == PARKED)
    first_rebuild = min(i for i, e in enumerate(events) if e.state == REBUILDING)
    assert last_park < first_rebuild, "an index was rebuilt before every index was parked"


@pytest.mark.parametrize("serve_as", [None, "hash-v1"], ids=["renamed", "behind-the-same-name"])
async def test_the_first_query_after_a_switch_is_refused_and_wakes_the_watcher(
    hash_proxy: ProxyProcess, service: Service, serve_as: str | None
) -> None:
    # The poll interval is ten minutes: only the query-time guard can start this reindex. Behind an
    # unchanged name only the probe sent with the query shows that another model embedded it.
    assert service.app.config.watcher.interval_seconds >= 600
    await hash_proxy.switch_model("hash-v2", serve_as=serve_as)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await service.search.Search(search_pb2.SearchRequest(query="validator", indexes=["eips"]))
    got = failure(caught.value)
    assert (got.code, got.error_info.reason if got.error_info else None) == (
        grpc.StatusCode.UNAVAILABLE,
        "EMBEDDING_SPACE_CHANGED",
    )
    assert got.retry_info is not None
    if serve_as is None:
        await settle(service, "hash-v2")
    else:
        manager = service.app.manager
        await wait_for(manager, lambda: all(s.generation == 2 for s in manager.statuses()))
        await asyncio.wait_for(service.app.watcher.settled.wait(), 60)
    response = await service.search.Search(search_pb2.SearchRequest(query="validator", indexes=["eips"]))
    assert response.query_space.model == (serve_as or "hash-v2")
    assert_scored_in("validator", response, model="hash-v2")


async def test_a_model_swapped_behind_the_same_name_is_detected_and_rebuilt(
    hash_proxy: ProxyProcess, make_service: Any
) -> None:
    service: Service = await make_service(fixture_config(hash_proxy.url, watcher={"interval_seconds": 0.2}))
    before = await service.admin.GetEmbeddingSpace(admin_pb2.GetEmbeddingSpaceRequest())
    await hash_proxy.switch_model("hash-v2", serve_as="hash-v1")
    manager = service.app.manager
    await wait_for(
        manager, lambda: manager.all_ready() and all(s.generation == 2 for s in manager.statuses())
    )
    await asyncio.wait_for(service.app.watcher.settled.wait(), 30)
    after = await service.admin.GetEmbeddingSpace(admin_pb2.GetEmbeddingSpaceRequest())
    assert after.built_space.model == before.built_space.model == "hash-v1"
    assert list(after.built_space.fingerprint) != list(before.built_space.fingerprint)
    response = await service.search.Search(search_pb2.SearchRequest(query="blob fee market", top_k=5))
    # Scored in the model really serving now, whatever its name.
    assert_scored_in("blob fee market", response, model="hash-v2")


async def test_health_follows_every_state_change(hash_proxy: ProxyProcess, service: Service) -> None:
    health = health_pb2_grpc.HealthStub(service.channel)
    stream = health.Watch(health_pb2.HealthCheckRequest(service="semsearch.index.eips"))
    statuses = [(await stream.read()).status]
    await hash_proxy.switch_model("hash-v2")
    service.app.manager.wake("test: model switched")
    while len(statuses) < 3:
        statuses.append((await asyncio.wait_for(stream.read(), 30)).status)
    stream.cancel()
    serving, not_serving = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING
    assert statuses == [serving, not_serving, serving]


async def test_a_stalled_subscriber_does_not_delay_a_live_one(
    hash_proxy: ProxyProcess, service: Service
) -> None:
    stalled = service.admin.WatchIndexes(admin_pb2.WatchIndexesRequest())
    await stalled.read()  # subscribed, then never reads again
    live = WatchStream(service)
    manager = service.app.manager
    for model in ("hash-v2", "hash-v3", "hash-v4"):
        await hash_proxy.switch_model(model)
        manager.wake("test: model switched")
        await settle(service, model)
    await live.until(lambda: sum(len(t) for t in live.transitions().values()) >= 36)
    await live.close()
    stalled.cancel()
    assert all(len(t) == 9 for t in live.transitions().values())


async def test_reindex_rebuilds_in_the_background_and_unknown_names_change_nothing(service: Service) -> None:
    subscriber = WatchStream(service)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await service.admin.Reindex(admin_pb2.ReindexRequest(indexes=["eips", "nope"]))
    assert failure(caught.value).code == grpc.StatusCode.NOT_FOUND
    accepted = await service.admin.Reindex(admin_pb2.ReindexRequest(indexes=["eips"], reason="test"))
    assert [ix.name for ix in accepted.indexes] == ["eips"]
    manager = service.app.manager
    await wait_for(manager, lambda: manager.status("eips").generation == 2)
    await subscriber.until(lambda: bool(subscriber.transitions().get("eips")))
    await subscriber.close()
    assert subscriber.transitions() == {"eips": [(READY, READY)]}
    assert "reindexed: test" in subscriber.messages[-1].event.reason
    assert all(s.generation == 1 for s in manager.statuses() if s.name != "eips")


async def test_watch_streams_end_cleanly_when_the_server_stops(hash_proxy: ProxyProcess) -> None:
    async with running(fixture_config(hash_proxy.url)) as app:
        await wait_all_ready(app.manager)
        await feed_caught_up(app)  # on a replica the stream follows the shared log, a round trip behind
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{app.port}")
        from semsearch.api.v1 import admin_pb2_grpc

        stream = admin_pb2_grpc.AdminServiceStub(channel).WatchIndexes(admin_pb2.WatchIndexesRequest())
        assert (await stream.read()).WhichOneof("payload") == "snapshot"
    assert await stream.read() is grpc.aio.EOF
    assert await stream.code() == grpc.StatusCode.OK
    await channel.close()


async def test_a_subscriber_that_falls_behind_gets_a_fresh_snapshot_without_gaps(service: Service) -> None:
    from semsearch.lifecycle import IndexState
    from semsearch.lifecycle.events import SUBSCRIBER_QUEUE_LIMIT

    stream = service.admin.WatchIndexes(admin_pb2.WatchIndexesRequest(indexes=["eips"]))
    assert (await stream.read()).WhichOneof("payload") == "snapshot"
    manager = service.app.manager
    # Far more events than the subscriber's buffer holds while it does not read.
    for _ in range(3 * SUBSCRIBER_QUEUE_LIMIT):
        manager.bus.publish("eips", IndexState.READY, manager.status("eips"), "synthetic")
    kinds, sequences = [], []
    while not kinds or kinds[-1] != "snapshot":
        message = await asyncio.wait_for(stream.read(), 10)
        kinds.append(message.WhichOneof("payload"))
        sequences.append(message.sequence)
    stream.cancel()
    assert kinds[-1] == "snapshot" and kinds.count("event") < 3 * SUBSCRIBER_QUEUE_LIMIT
    assert sequences == list(range(2, 2 + len(sequences)))
