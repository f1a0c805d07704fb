"""The indexer lease: one replica at a time runs the watcher (probes, rebuilds, refreshes,
migrations); the others follow the shared log. A replica that takes the lease first applies the
whole log, so it starts from what its predecessor left (cached vectors are not embedded again);
one that loses it (its database connection went) stops indexing at once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from semsearch.logs import event
from semsearch.replication.protocol import Lease
from semsearch.replication.tail import LogTail
from semsearch.replication.writer import LogWriter

log = logging.getLogger(__name__)


class IndexerRole:
    def __init__(
        self,
        lease: Lease,
        name: str,
        tail: LogTail,
        writer: LogWriter,
        take_over: Callable[[str], None],
        start_indexing: Callable[[], None],
        stop_indexing: Callable[[], Awaitable[None]],
        check_seconds: float = 1.0,
    ) -> None:
        self.lease = lease
        self.name = name
        self.tail = tail
        self.writer = writer
        self.take_over = take_over
        self.start_indexing = start_indexing
        self.stop_indexing = stop_indexing
        self.check_seconds = check_seconds
        self.epoch: int | None = None  # set while this replica is the indexer
        self.leading_since: float | None = None
        self.terms = 0  # how many times this replica took the lease
        self.known_holder: str | None = None  # the lease holder as last seen, while not leading

    @property
    def leading(self) -> bool:
        return self.epoch is not None

    async def run(self) -> None:
        while True:
            try:
                epoch = await asyncio.to_thread(self.lease.try_acquire, self.name)
            except Exception as exc:  # the database is away: try again
                event(log, "lease_unreachable", level=logging.WARNING, error=str(exc))
                epoch = None
            if epoch is not None:
                await self._lead(epoch)
            else:
                await self._note_holder()
            await asyncio.sleep(self.check_seconds)

    async def _lead(self, epoch: int) -> None:
        event(log, "lease_acquired", replica=self.name, epoch=epoch)
        try:
            await self.tail.stop_following()  # the whole log applied: decide from where it ends
            self.epoch, self.leading_since = epoch, time.time()
            self.terms += 1
            self.writer.lead(epoch)
            self.take_over(f"rebuild interrupted: the indexer changed (now {self.name})")
            self.start_indexing()
            held = True
            while held:
                await asyncio.sleep(self.check_seconds)
                held = await self._still_held()
            event(log, "lease_lost", level=logging.WARNING, replica=self.name, epoch=epoch)
        finally:
            await self._step_down()

    async def _note_holder(self) -> None:
        with contextlib.suppress(Exception):
            held = await asyncio.to_thread(self.lease.holder)
            self.known_holder = held[0] if held is not None else None

    async def _still_held(self) -> bool:
        try:
            return await asyncio.to_thread(self.lease.still_held)
        except Exception:
            return False

    async def _step_down(self) -> None:
        if self.epoch is None:
            self.tail.follow_again()
            return
        await self.stop_indexing()  # a rebuild in progress ends here; what it publishes is fenced
        self.writer.stop_leading()
        self.epoch = self.leading_since = None
        self.tail.follow_again()
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.lease.release)
