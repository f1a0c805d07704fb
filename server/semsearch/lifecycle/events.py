"""State-change events, the bus that numbers them, and the subscriptions that deliver them.

A subscription is an async iterator: first a ``Resync`` (every index as it is now), then each
``StateChange`` in order. A subscriber that falls too far behind loses its backlog and gets one
fresh ``Resync`` in place of it; the iteration ends when the bus closes (server shutdown).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType

from semsearch.lifecycle.migration_status import MigrationStatus
from semsearch.lifecycle.slot import IndexStatus
from semsearch.lifecycle.state import IndexState
from semsearch.logs import event

log = logging.getLogger(__name__)

SUBSCRIBER_QUEUE_LIMIT = 1024
RETAINED_EVENTS = 4096  # kept for subscribers that resume after a position instead of a snapshot

Snapshot = Callable[[], Iterable[IndexStatus]]  # every index as it is now (the manager's statuses)


@dataclass(frozen=True, slots=True)
class StateChange:
    sequence: int
    index: str
    previous: IndexState
    state: IndexState
    reason: str
    status: IndexStatus
    time: float = field(default_factory=time.time)
    migration: MigrationStatus | None = None  # set on a model migration's events
    step_remaining: int = 0  # events of the same atomic step still to follow, back to back


@dataclass(frozen=True, slots=True)
class Resync:
    """Every index as it was when this was yielded: the changes that follow start from here."""

    statuses: tuple[IndexStatus, ...]
    sequence: int = 0  # the position of the last change the snapshot reflects
    missed: int = 0  # events since the previous snapshot not delivered (0 for the first snapshot)
    lagged: bool = False  # this subscriber fell behind: its backlog overflowed


Update = Resync | StateChange


class Subscription:
    """One subscriber's bounded backlog; overflowing drops it in favour of a fresh snapshot.

    Use it as a context manager around the iteration: leaving the block, however, unsubscribes.
    ``kind`` says who listens ("watch" for a WatchIndexes stream), so each kind can be counted.
    """

    def __init__(
        self, bus: EventBus, snapshot: Snapshot, kind: str = "internal", limit: int = SUBSCRIBER_QUEUE_LIMIT
    ) -> None:
        if limit < 1:
            raise ValueError(f"a subscription holds at least one event, not {limit}")
        self._bus = bus
        self._snapshot = snapshot
        self.kind = kind
        self._limit = limit
        self._backlog: deque[StateChange] = deque()
        # A snapshot is due first, after a lag and after a resync; until it is taken, events are not kept: the
        # snapshot, taken when it is yielded, already holds them.
        self._snapshot_due = True
        self._started = False  # the first snapshot is taken: events not kept from now on are missed
        self._lagged = False
        self._missed = 0
        self._ended = False
        self._arrived = asyncio.Event()
        self.resumed = False  # started after a position instead of with a snapshot

    @property
    def lagging(self) -> bool:
        """Fell behind and has not yet been handed the snapshot that replaces what it missed."""
        return self._lagged

    @property
    def backlog(self) -> int:
        return len(self._backlog)

    def offer(self, change: StateChange) -> None:
        """Called by the bus: never blocks, whatever the subscriber does."""
        if self._ended:
            return
        if self._snapshot_due:
            if self._started:
                self._missed += 1
            return
        if len(self._backlog) >= self._limit:
            self._lagged = True
            self._drop_backlog(also_missed=1)
        else:
            self._backlog.append(change)
        self._arrived.set()

    def resume(self, changes: list[StateChange]) -> None:
        """Start with these changes instead of a snapshot (the subscriber already has the rest)."""
        self._snapshot_due, self._started, self.resumed = False, True, True
        for change in changes:
            self.offer(change)

    def resync(self) -> None:
        """Drop what is held and start again from a fresh snapshot (what it held may be stale)."""
        if self._ended or self._snapshot_due:
            return
        self._drop_backlog()
        self._arrived.set()

    def _drop_backlog(self, also_missed: int = 0) -> None:
        self._missed += len(self._backlog) + also_missed
        self._backlog.clear()  # the snapshot replaces it, and the memory goes at once
        self._snapshot_due = True

    def end(self) -> None:
        """Called by the bus when it closes: what is already queued is still delivered, then the end."""
        self._ended = True
        self._arrived.set()

    def close(self) -> None:
        """Unsubscribe; the iteration ends. Safe to call more than once."""
        self.end()
        self._backlog.clear()
        self._bus.unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Update:
        while True:
            if self._backlog:
                return self._backlog.popleft()
            if self._ended:
                raise StopAsyncIteration
            if self._snapshot_due:
                # Taken and handed over in one synchronous step: no event falls between the two.
                resync = Resync(
                    tuple(self._snapshot()), self._bus.latest_sequence, self._missed, self._lagged
                )
                self._snapshot_due, self._started, self._lagged, self._missed = False, True, False, 0
                return resync
            self._arrived.clear()
            await self._arrived.wait()


class EventBus:
    """Synchronous fan-out on the event loop: publishing never awaits, so it cannot stall a transition."""

    def __init__(self, retain: int = RETAINED_EVENTS) -> None:
        self._sequence = itertools.count(1)
        # What a resume position refers to: this bus's numbering (a process's), or a shared log's.
        self.log_id = uuid.uuid4().hex
        self.latest_sequence = 0  # the last change delivered
        self._retained: deque[StateChange] = deque(maxlen=retain)
        self._listeners: list[Callable[[StateChange], None]] = []
        self._subscriptions: set[Subscription] = set()
        self._closed = False

    def close(self) -> None:
        """End every subscription (server shutdown) so streams finish cleanly instead of being cut."""
        self._closed = True
        for sub in list(self._subscriptions):
            sub.end()
        self._subscriptions.clear()

    def add_listener(self, listener: Callable[[StateChange], None]) -> None:
        self._listeners.append(listener)

    def subscribe(
        self,
        snapshot: Snapshot,
        kind: str = "internal",
        limit: int = SUBSCRIBER_QUEUE_LIMIT,
        after: int | None = None,
    ) -> Subscription:
        """A subscription that starts with ``snapshot()`` and keeps at most ``limit`` unread events.

        With ``after``, a position of this bus's log, it starts instead with the changes after it,
        when they are all still retained (no gap, no duplicate); else with a snapshot as usual."""
        sub = Subscription(self, snapshot, kind, limit)
        if after is not None and self.can_resume(after):
            sub.resume([change for change in self._retained if change.sequence > after])
        if self._closed:
            sub.end()  # nothing will be published any more: the iteration ends at once
        else:
            self._subscriptions.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscriptions.discard(sub)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    def subscribers(self, kind: str) -> int:
        """Open subscriptions of one kind (read at every metrics scrape)."""
        return sum(1 for sub in self._subscriptions if sub.kind == kind)

    def next_sequence(self) -> int:
        return next(self._sequence)

    def can_resume(self, after: int) -> bool:
        """Whether every change after ``after`` is retained (or there is none)."""
        if after == self.latest_sequence:
            return True
        return (
            bool(self._retained) and self._retained[0].sequence <= after + 1 and after < self.latest_sequence
        )

    def restart_at(self, sequence: int, log_id: str) -> None:
        """Follow another log from ``sequence`` on (a replica reading the shared log): what was
        retained no longer resumes anything, and every subscriber starts again from a snapshot."""
        self.log_id, self.latest_sequence = log_id, sequence
        self._retained.clear()
        self.resync_all()

    def resync_all(self) -> None:
        """Every subscriber starts again from a fresh snapshot (what they hold may be stale)."""
        for sub in self._subscriptions:
            sub.resync()

    def publish(
        self,
        index: str,
        previous: IndexState,
        status: IndexStatus,
        reason: str,
        migration: MigrationStatus | None = None,
        step_remaining: int = 0,
    ) -> StateChange:
        change = StateChange(
            self.next_sequence(),
            index,
            previous,
            status.state,
            reason,
            status,
            migration=migration,
            step_remaining=step_remaining,
        )
        event(
            log,
            "index_state_changed",
            index=index,
            previous=previous.value,
            state=status.state.value,
            reason=reason,
            generation=status.generation,
            sequence=change.sequence,
            last_error=status.last_error or None,
        )
        self.deliver(change)
        return change

    def deliver(self, change: StateChange) -> None:
        """Hand a change to every listener and subscriber as it is, numbered where it was made."""
        self.latest_sequence = max(self.latest_sequence, change.sequence)
        self._retained.append(change)
        for listener in self._listeners:
            listener(change)
        for sub in self._subscriptions:
            sub.offer(change)
