"""State-change events and the bus that numbers them and hands them to listeners and subscribers."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from semsearch.lifecycle.migration_status import MigrationStatus
from semsearch.lifecycle.slot import IndexStatus
from semsearch.lifecycle.state import IndexState
from semsearch.logs import event

log = logging.getLogger(__name__)

SUBSCRIBER_QUEUE_LIMIT = 1024


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


class Subscription:
    """A bounded queue of events for one subscriber; overflowing marks it lagged instead of blocking.

    ``None`` in the queue means the bus closed (server shutdown): the consumer should finish.
    ``kind`` says who listens ("watch" for a WatchIndexes stream), so each kind can be counted.
    """

    def __init__(self, bus: EventBus, kind: str = "internal") -> None:
        self._bus = bus
        self.kind = kind
        self.queue: asyncio.Queue[StateChange | None] = asyncio.Queue(SUBSCRIBER_QUEUE_LIMIT)
        self.lagged = False

    def offer(self, change: StateChange) -> None:
        try:
            self.queue.put_nowait(change)
        except asyncio.QueueFull:
            self.lagged = True  # the consumer resynchronises from a fresh snapshot

    def end(self) -> None:
        while self.queue.full():
            self.queue.get_nowait()  # a backlog no longer matters: the stream is ending
        self.queue.put_nowait(None)

    def close(self) -> None:
        self._bus.unsubscribe(self)


class EventBus:
    """Synchronous fan-out on the event loop: publishing never awaits, so it cannot stall a transition."""

    def __init__(self) -> None:
        self._sequence = itertools.count(1)
        self._listeners: list[Callable[[StateChange], None]] = []
        self._subscriptions: set[Subscription] = set()

    def close(self) -> None:
        """End every subscription (server shutdown) so streams finish cleanly instead of being cut."""
        for sub in list(self._subscriptions):
            sub.end()
        self._subscriptions.clear()

    def add_listener(self, listener: Callable[[StateChange], None]) -> None:
        self._listeners.append(listener)

    def subscribe(self, kind: str = "internal") -> Subscription:
        sub = Subscription(self, kind)
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
        for listener in self._listeners:
            listener(change)
        for sub in self._subscriptions:
            sub.offer(change)
        return change
