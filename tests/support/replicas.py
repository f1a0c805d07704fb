"""Several in-process replicas of semsearch on one PostgreSQL database and one provider."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from semsearch.config import Config
from semsearch.lifecycle import IndexState
from tests.support.server import Service, fixture_config

StartService = Callable[..., Awaitable[Service]]


def replica_config(url: str, dsn: str, **kwargs: Any) -> Config:
    return fixture_config(url, store={"backend": "postgres", "dsn": dsn}, **kwargs)


def indexer(replicas: Sequence[Service]) -> Service:
    """The one replica that holds the indexer lease (exactly one must)."""
    leading = [r for r in replicas if r.app.replication is not None and r.app.replication.role.leading]
    assert len(leading) == 1, f"{len(leading)} replicas hold the indexer lease"
    return leading[0]


def followers(replicas: Sequence[Service]) -> list[Service]:
    lead = indexer(replicas)
    return [r for r in replicas if r is not lead]


def generations(replica: Service) -> dict[str, int]:
    return {name: slot.generation for name, slot in replica.app.manager.slots.items()}


def serving(replica: Service) -> dict[str, int]:
    """Each index's generation where it serves dense search (READY with vectors)."""
    return {
        name: slot.generation
        for name, slot in replica.app.manager.slots.items()
        if slot.state is IndexState.READY and slot.index is not None
    }


async def until(condition: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    """Poll a condition spanning several replicas (no single bus sees them all)."""
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - the replicas' buses are several: nothing to await
            await asyncio.sleep(0.05)


async def all_serving(replicas: Sequence[Service], timeout: float = 90.0) -> dict[str, int]:
    """Wait until every replica serves every index, the same generations everywhere."""

    def settled() -> bool:
        wanted = serving(replicas[0])
        names = set(replicas[0].app.manager.slots)
        return set(wanted) == names and all(serving(r) == wanted for r in replicas)

    await until(settled, timeout, "every replica serving")
    return serving(replicas[0])


async def start_replicas(make_service: StartService, config: Config, count: int) -> list[Service]:
    replicas = [await make_service(config, ready=False) for _ in range(count)]
    await all_serving(replicas)
    indexer(replicas)  # exactly one holds the lease
    return replicas
