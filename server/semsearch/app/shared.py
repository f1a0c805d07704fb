"""The shared part of a deployment of several replicas ([store] backend = "postgres"): the store,
the log every replica follows and the indexer lease, all in one PostgreSQL database."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from semsearch.config import Config
from semsearch.replication.protocol import Lease, SharedLog
from semsearch.store import GenerationStore
from semsearch.store.opening import open_store


@dataclass(frozen=True)
class Shared:
    store: GenerationStore
    log: SharedLog
    lease: Lease
    # Fences the store's switches of the current generation by the lease this replica holds.
    fence: Callable[[Callable[[], int | None]], None]


@contextlib.asynccontextmanager
async def open_shared(config: Config) -> AsyncIterator[Shared | None]:
    """None with the local backend; else the store, the log and the lease, closed at the end.
    A database that cannot be used is a ConfigError naming the key (exit code 2)."""
    if config.store.backend != "postgres":
        yield None
        return
    # Only a deployment of replicas loads the database driver.
    from semsearch.replication.postgres import PostgresSharedLog
    from semsearch.store.lease import IndexerLease
    from semsearch.store.postgres import PostgresStore

    store = await asyncio.to_thread(open_store, config)
    assert isinstance(store, PostgresStore)
    lease = IndexerLease(store.dsn)
    try:
        yield Shared(store, PostgresSharedLog(store), lease, lambda epoch: setattr(store, "fencing", epoch))
    finally:
        await asyncio.to_thread(lease.close)
        await asyncio.to_thread(store.close)
