"""Several replicas on one shared store: every replica serves, one at a time indexes.

Each replica follows the shared log (``replication.LogTail``), which is also what its
WatchIndexes streams; the replica holding the indexer lease runs the watcher and writes what its
manager does to the log (``replication.LogWriter``); see ``replication.role``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from semsearch.app.shared import Shared
from semsearch.lifecycle import IndexManager, Migrator, Watcher
from semsearch.lifecycle.events import EventBus
from semsearch.logs import event
from semsearch.replication.heartbeat import Heartbeat
from semsearch.replication.indexer_only import IndexerOnlyMigrations
from semsearch.replication.role import IndexerRole
from semsearch.replication.tail import LogTail
from semsearch.replication.writer import LogWriter
from semsearch.service.admin import WatchFeed

log = logging.getLogger(__name__)

STOP_SECONDS = 5.0  # at shutdown, how long what the indexer wrote may take to reach the log


def replica_name(address: str) -> str:
    """How a replica names itself in the lease and in status: its host and the address it serves."""
    return f"{socket.gethostname()}/{address}"


@dataclass
class Replication:
    name: str
    feed: EventBus  # the shared log as this replica read it: what WatchIndexes streams
    tail: LogTail
    writer: LogWriter
    role: IndexerRole
    heartbeat: Heartbeat
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def watch_feed(self) -> WatchFeed:
        """What this replica's WatchIndexes streams: the shared log as read here."""
        return WatchFeed(self.feed, self.tail.statuses)

    def start(self, name: str) -> None:
        """Take part: follow the log, compete for the lease, report. Named once its address is known."""
        self.name = self.role.name = self.heartbeat.name = name
        self._tasks = [
            asyncio.create_task(self.tail.run(), name="semsearch-log-tail"),
            asyncio.create_task(self.writer.run(), name="semsearch-log-writer"),
            asyncio.create_task(self.heartbeat.run(), name="semsearch-heartbeat"),
            asyncio.create_task(self.role.run(), name="semsearch-indexer-role"),
        ]
        event(log, "replica_started", replica=name)

    async def stop(self) -> None:
        """Step down (indexing stops, the lease is released), flush what the indexer wrote, leave."""
        if not self._tasks:
            return
        *others, role_task = self._tasks
        role_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await role_task
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.writer.drain(), STOP_SECONDS)
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        self._tasks = []
        event(log, "replica_stopped", replica=self.name)

    async def caught_up(self, timeout: float = 30.0) -> None:
        """Until what this replica wrote to the log (as the indexer) is back in its own feed, so
        that a stream opened now starts from a snapshot that already holds it."""
        await asyncio.wait_for(self.writer.drain(), timeout)
        async with asyncio.timeout(timeout):
            while self.tail.sequence < self.writer.last_sequence:  # noqa: ASYNC110 - the tail polls the log
                await asyncio.sleep(0.02)

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
    poll_seconds: float = 1.0,
) -> AsyncIterator[Replication]:
    """The parts of a replica, started by ``Replication.start``; stepped down when the block ends."""
    name = "unnamed replica"  # until start() names it after the address it serves
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
    heartbeat = Heartbeat(shared.log, manager, tail, name, lambda: role.leading, max(poll_seconds * 2, 0.5))
    replication = Replication(name, feed, tail, writer, role, heartbeat)
    shared.fence(lambda: role.epoch)
    manager.attach(
        waker=watcher,
        migration=IndexerOnlyMigrations(migrator, lambda: role.leading, replication.holder),
        forward_rebuild=writer.forward_rebuild,
    )
    try:
        yield replication
    finally:
        await replication.stop()
        feed.close()
