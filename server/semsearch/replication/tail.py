"""Reading the shared log in order, on every replica.

The tail keeps the latest status of every index, hands each change to this replica's feed (what
its WatchIndexes streams: the global sequence, the same on every replica) and, while this replica
does not hold the indexer lease, applies it to the manager: a generation made current is read
back from the store and served; PARKED and REBUILDING stop dense search here too. A database
that cannot be reached is retried with backoff while the replica serves what it has.
"""

from __future__ import annotations

import asyncio
import logging
import time

from semsearch.backoff import backoff_ceiling
from semsearch.lifecycle import IndexManager, IndexState, IndexStatus
from semsearch.lifecycle.events import EventBus
from semsearch.logs import event
from semsearch.replication.protocol import SharedLog
from semsearch.replication.records import change_of, space_of, status_of
from semsearch.store import GenerationNotFound, GenerationStore

log = logging.getLogger(__name__)

BACKOFF_CAP = 10.0


class LogTail:
    def __init__(
        self,
        shared: SharedLog,
        store: GenerationStore,
        manager: IndexManager,
        feed: EventBus,
        poll_seconds: float = 1.0,
    ) -> None:
        self.shared = shared
        self.store = store
        self.manager = manager
        self.feed = feed
        self.poll_seconds = poll_seconds
        self.sequence = 0  # the last change read (the replication position of this replica)
        self.latest_sequence = 0  # the newest change known to exist in the log
        self.latest: dict[str, IndexStatus] = {}  # every index as the log last described it
        self.following = True  # False while this replica's own watcher is the indexer
        self.caught_up = asyncio.Event()  # set once the first snapshot is applied
        self.last_load_seconds: float | None = None
        self.loads = 0  # generations read back from the store and swapped in here
        self._failures = 0
        self._lead_wanted = False
        self._handed_over = asyncio.Event()
        self._resync_wanted = False

    def statuses(self) -> list[IndexStatus]:
        """The snapshot a new WatchIndexes stream starts from."""
        return [self.latest[name] for name in self.manager.slots if name in self.latest]

    async def run(self) -> None:
        resync = True
        while True:
            try:
                if resync:
                    await self._resync()
                    resync = False
                resync = not await self._read() or self._resync_wanted
                self._resync_wanted = False
                self._failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: serve what we have, try again
                self._failures += 1
                delay = backoff_ceiling(0.25, BACKOFF_CAP, self._failures)
                event(log, "shared_log_unreachable", level=logging.WARNING, error=str(exc), retry_in=delay)
                await asyncio.sleep(delay)
                resync = True  # changes may have been trimmed meanwhile

    async def _read(self) -> bool:
        """Apply the changes after our position; False when the log no longer holds them all."""
        changes = await asyncio.to_thread(self.shared.changes_after, self.sequence)
        if changes is None:
            event(log, "shared_log_gap", level=logging.WARNING, after=self.sequence)
            return False
        for logged in changes:
            change = change_of(logged.sequence, logged.record)
            self.latest[change.index] = change.status
            self.sequence = self.latest_sequence = max(self.latest_sequence, logged.sequence)
            self.feed.deliver(change)
            if self.following:
                await self.apply(change.status, change.reason)
        if not self.following:
            for indexes, reason in await asyncio.to_thread(self.shared.take_rebuild_requests):
                self._request_rebuild(indexes, reason)
        if not changes:
            if self._lead_wanted and self.following:
                self.following = False  # caught up with the whole log: this replica may lead now
                self._handed_over.set()
                event(log, "following_stopped", sequence=self.sequence)
            await asyncio.to_thread(self.shared.wait, self.poll_seconds)
        return True

    def _request_rebuild(self, indexes: list[str], reason: str) -> None:
        known = [name for name in indexes if name in self.manager.slots]
        if indexes and not known:
            return  # names this replica does not serve: the replica that asked checked its own
        self.manager.request_rebuild(known, reason)

    async def stop_following(self) -> None:
        """Apply the log up to its end, then stop applying it (this replica becomes the indexer)."""
        self._lead_wanted = True
        await self._handed_over.wait()

    def follow_again(self) -> None:
        """Apply the log again, from a fresh snapshot (this replica stopped being the indexer)."""
        self._lead_wanted = False
        self._handed_over.clear()
        self.following = True
        self._resync_wanted = True

    async def _resync(self) -> None:
        snapshot = await asyncio.to_thread(self.shared.snapshot)
        statuses = [status_of(record) for record in snapshot.statuses]
        self.latest = {status.name: status for status in statuses}
        self.sequence = self.latest_sequence = snapshot.sequence
        self.feed.restart_at(snapshot.sequence, snapshot.log_id)  # streams start again from a snapshot
        if self.following:
            if snapshot.built_space is not None:
                self.manager.adopt_space(space_of(snapshot.built_space))
            for status in statuses:
                await self.apply(status, "replica resynchronised")
        self.caught_up.set()
        event(log, "shared_log_resynchronised", sequence=snapshot.sequence, indexes=len(statuses))

    async def apply(self, status: IndexStatus, reason: str) -> None:
        """Serve here what the indexer's log says of one index."""
        slot = self.manager.slots.get(status.name)
        if slot is None:
            return  # an index this replica is not configured with: nothing to serve
        wanted = status.state is IndexState.READY and status.generation > 0
        if wanted and (slot.index is None or slot.generation != status.generation):
            started = time.perf_counter()
            try:
                stored = await asyncio.to_thread(self.store.read_generation, status.name, status.generation)
            except GenerationNotFound:
                return  # replaced meanwhile: a later change brings the newer one
            await self.manager.adopt_stored(stored, reason)
            self.last_load_seconds = time.perf_counter() - started
            self.loads += 1
            event(
                log,
                "generation_loaded",
                index=status.name,
                generation=status.generation,
                chunks=len(stored.chunks),
                seconds=round(self.last_load_seconds, 3),
            )
            return
        if status.state is not slot.state or status.last_error != slot.last_error:
            self.manager.mirror(status, reason)
