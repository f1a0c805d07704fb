"""Several targets: searches go round-robin over the replicas that report SERVING, and a replica that
reports NOT_SERVING (loading, draining) gets none until it serves again.

Plain single-process servers on the local backend: how calls are spread does not depend on where
the indexes are stored. Each server counts its searches in its own metrics registry.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest

from semsearch.app.prometheus import PrometheusMetrics
from semsearch.config import MetricsConfig
from semsearch.proxy.launcher import ProxyProcess
from semsearch.service.health_servicer import NOT_SERVING, SERVING
from semsearch_client import AsyncSemsearchClient, SemsearchClient, UnreachableError
from tests.support.server import Service, fixture_config

QUERY = "database disk full"
SEARCH_COUNT = "semsearch_search_duration_seconds_count"


@pytest.fixture
async def replicas(hash_proxy: ProxyProcess, make_service: Any) -> list[Service]:
    config = dataclasses.replace(fixture_config(hash_proxy.url), metrics=MetricsConfig(listen="127.0.0.1:0"))
    return [await make_service(config) for _ in range(3)]


def targets(replicas: Sequence[Service]) -> str:
    return ",".join(f"127.0.0.1:{r.app.port}" for r in replicas)


def served(replica: Service) -> int:
    """Searches this server answered, as its metrics count them."""
    metrics = replica.app.metrics
    assert isinstance(metrics, PrometheusMetrics)
    return int(metrics.registry.get_sample_value(SEARCH_COUNT, {"outcome": "ok"}) or 0)


def counts(replicas: Sequence[Service]) -> list[int]:
    return [served(r) for r in replicas]


@pytest.fixture
async def client(replicas: list[Service]) -> AsyncIterator[AsyncSemsearchClient]:
    async with AsyncSemsearchClient(targets(replicas)) as opened:
        yield opened


async def search_until(
    client: AsyncSemsearchClient, replicas: Sequence[Service], done: Callable[[list[int]], bool]
) -> None:
    """Search until ``done(counts)`` holds: waits on what the servers saw, never on a timer."""
    async with asyncio.timeout(30):
        while not done(counts(replicas)):
            await client.search(QUERY, mode="lexical")


async def spread(client: AsyncSemsearchClient, replicas: Sequence[Service], searches: int) -> list[int]:
    """How ``searches`` more searches were shared among the replicas."""
    before = counts(replicas)
    for _ in range(searches):
        await client.search(QUERY, mode="lexical")
    return [after - was for after, was in zip(counts(replicas), before, strict=True)]


async def settled_away_from(
    client: AsyncSemsearchClient, replicas: Sequence[Service], index: int, in_a_row: int = 6
) -> None:
    """Search until ``in_a_row`` searches in a row went elsewhere than ``replicas[index]``: the
    client has seen its health change (calls already on their way when it changed may still land)."""
    streak = 0
    async with asyncio.timeout(30):
        while streak < in_a_row:
            before = served(replicas[index])
            await client.search(QUERY, mode="lexical")
            streak = streak + 1 if served(replicas[index]) == before else 0


async def test_searches_go_round_robin_over_every_replica(
    client: AsyncSemsearchClient, replicas: list[Service]
) -> None:
    await search_until(client, replicas, all)  # every replica connected
    assert await spread(client, replicas, 30) == [10, 10, 10]


async def test_a_replica_reporting_not_serving_gets_no_traffic_until_it_serves_again(
    client: AsyncSemsearchClient, replicas: list[Service]
) -> None:
    await search_until(client, replicas, all)
    replicas[0].app.server.health.servicer.set("", NOT_SERVING)
    await settled_away_from(client, replicas, 0)
    assert await spread(client, replicas, 20) == [0, 10, 10]

    replicas[0].app.server.health.servicer.set("", SERVING)
    before = served(replicas[0])
    await search_until(client, replicas, lambda seen: seen[0] > before)  # back in the rotation
    assert await spread(client, replicas, 30) == [10, 10, 10]


async def test_when_no_replica_serves_a_search_fails_as_unreachable(
    client: AsyncSemsearchClient, replicas: list[Service]
) -> None:
    await search_until(client, replicas, all)
    for replica in replicas:
        replica.app.server.health.servicer.set("", NOT_SERVING)
    with pytest.raises(UnreachableError, match="unhealthy"):
        async with asyncio.timeout(30):
            while True:  # until the client has seen every replica's health change
                await client.search(QUERY, mode="lexical")


async def test_without_balancing_every_search_goes_to_one_replica(replicas: list[Service]) -> None:
    with SemsearchClient(targets(replicas), balance=False) as client:
        for _ in range(12):  # the servers run on this loop: the blocking calls go to a thread
            await asyncio.to_thread(client.search, QUERY, mode="lexical")
    assert sorted(counts(replicas)) == [0, 0, 12]


async def test_the_blocking_client_balances_too(replicas: list[Service]) -> None:
    with SemsearchClient([f"127.0.0.1:{r.app.port}" for r in replicas]) as client:
        async with asyncio.timeout(30):
            while not all(counts(replicas)):
                await asyncio.to_thread(client.search, QUERY, mode="lexical")
        before = counts(replicas)
        for _ in range(30):
            await asyncio.to_thread(client.search, QUERY, mode="lexical")
    assert [after - was for after, was in zip(counts(replicas), before, strict=True)] == [10, 10, 10]
