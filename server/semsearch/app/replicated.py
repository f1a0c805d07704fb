"""Several replicas on one shared store: every replica serves, one at a time indexes.

Each replica follows the shared log (``replication.LogTail``), which is also what its
WatchIndexes streams; the replica holding the indexer lease runs the watcher and writes what its
manager does to the log (``replication.LogWriter``); see ``replication.role``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

from semsearch.app.shared import Shared
from semsearch.lifecycle import IndexManager, Migrator, Watcher
from semsearch.lifecycle.events import EventBus
from semsearch.logs import event
from semsearch.replication.indexer_only import IndexerOnlyMigrations
from semsearch.replication.role import IndexerRole
from semsearch.replication.tail import LogTail
from semsearch.replication.writer import LogWriter
from semsearch.service.admin import WatchFeed

log = logging.getLogger(__name__)

STOP_SECONDS = 5.0  # at shutdown, how long what the indexer wrote may take to reach the log


def replica_name(listen: str) -> str:
    """How this replica names itself in the lease and in status: host, port and process."""
    return f"{socket.gethostname()}:{listen.rpartition(':')[2]}:{os.getpid()}"


@dataclass
class Replication:
    name: str
    feed: EventBus  # the shared log as this replica read it: what WatchIndexes streams
    tail: LogTail
    writer: LogWriter
    role: IndexerRole

    def watch_feed(self) -> WatchFeed:
        """What this replica's WatchIndexes streams: the shared log as read here."""
        return WatchFeed(self.feed, self.tail.statuses)

    def holder(self) -> str:
        """Which replica indexes, as far as this one knows."""
        if self.role.leading:
            return self.name
        return self.role.known_holder or "unknown"


@contextlib.asynccontextmanager
async def replicated(
    manager: IndexManager,
    watcher: Watcher,
    migrator: Migrator,
    shared: Shared,
    name: str,
    poll_seconds: float = 1.0,
) -> AsyncIterator[Replication]:
    """Follow the log and compete for the lease until the block ends; then step down cleanly."""
    feed = EventBus()
    tail = LogTail(shared.log, shared.store, manager, feed, poll_seconds)
    writer = LogWriter(shared.log, manager)

    async def stop_indexing() -> None:
        await migrator.stop()
        await watcher.stop()

    role = IndexerRole(
        shared.lease,
        name,
        tail,
        writer,
        manager.take_over,
        lambda: watcher.start(announce=False),
        stop_indexing,
        poll_seconds,
    )
    replication = Replication(name, feed, tail, writer, role)
    manager.attach(
        waker=watcher,
        migration=IndexerOnlyMigrations(migrator, lambda: role.leading, replication.holder),
        forward_rebuild=writer.forward_rebuild,
    )
    tasks = [
        asyncio.create_task(tail.run(), name="semsearch-log-tail"),
        asyncio.create_task(writer.run(), name="semsearch-log-writer"),
    ]
    role_task = asyncio.create_task(role.run(), name="semsearch-indexer-role")
    event(log, "replica_started", replica=name)
    try:
        yield replication
    finally:
        role_task.cancel()  # steps down: indexing stops, the lease is released
        with contextlib.suppress(asyncio.CancelledError):
            await role_task
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(writer.drain(), STOP_SECONDS)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        feed.close()
        event(log, "replica_stopped", replica=name)
