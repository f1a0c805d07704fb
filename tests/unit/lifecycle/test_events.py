"""The event bus and its subscriptions: numbered events, a snapshot first, bounded backlogs that
never block the publisher, one fresh snapshot after a lag, a clean end on close."""

from __future__ import annotations

import asyncio

import pytest

from semsearch.lifecycle import EventBus, IndexSlot, IndexState, IndexStatus
from semsearch.lifecycle.events import SUBSCRIBER_QUEUE_LIMIT, Resync, StateChange, Subscription, Update

NAMES = ("ix", "other")


class Indexes:
    """The states a manager would hold: the truth every snapshot is taken from."""

    def __init__(self) -> None:
        self.states = dict.fromkeys(NAMES, IndexState.READY)

    def statuses(self) -> list[IndexStatus]:
        return [IndexSlot(name, "markdown", (), state=state).status() for name, state in self.states.items()]

    def change(self, bus: EventBus, name: str, state: IndexState, reason: str = "test") -> None:
        previous, self.states[name] = self.states[name], state
        bus.publish(name, previous, IndexSlot(name, "markdown", (), state=state).status(), reason)


def publish(bus: EventBus, count: int, reason: str = "swap") -> None:
    slot = IndexSlot("ix", "markdown", (), state=IndexState.READY)
    for _ in range(count):
        bus.publish("ix", IndexState.READY, slot.status(), reason)


def states(resync: Update) -> dict[str, IndexState]:
    assert isinstance(resync, Resync), resync
    return {status.name: status.state for status in resync.statuses}


async def drain(sub: Subscription) -> list[Update]:
    """Everything the subscription holds right now (the bus must be closed: the iteration then ends)."""
    return [update async for update in sub]


def test_sequence_numbers_increase_by_one() -> None:
    bus = EventBus()
    seen: list[int] = []
    bus.add_listener(lambda change: seen.append(change.sequence))
    publish(bus, 5)
    assert seen == [1, 2, 3, 4, 5]


async def test_a_subscription_starts_with_a_snapshot_then_yields_every_change_in_order() -> None:
    bus, indexes = EventBus(), Indexes()
    with bus.subscribe(indexes.statuses) as sub:
        first = await anext(sub)
        assert states(first) == {"ix": IndexState.READY, "other": IndexState.READY}
        assert isinstance(first, Resync) and not first.lagged and first.missed == 0
        indexes.change(bus, "ix", IndexState.PARKED)
        indexes.change(bus, "other", IndexState.PARKED)
        indexes.change(bus, "ix", IndexState.REBUILDING)
        bus.close()
        changes = await drain(sub)
    assert all(isinstance(c, StateChange) for c in changes)
    seen = [(c.index, c.previous, c.state) for c in changes if isinstance(c, StateChange)]
    assert seen == [
        ("ix", IndexState.READY, IndexState.PARKED),
        ("other", IndexState.READY, IndexState.PARKED),
        ("ix", IndexState.PARKED, IndexState.REBUILDING),
    ]
    assert [c.sequence for c in changes if isinstance(c, StateChange)] == [1, 2, 3]


async def test_the_first_snapshot_is_taken_when_read_and_holds_what_came_before() -> None:
    bus, indexes = EventBus(), Indexes()
    with bus.subscribe(indexes.statuses) as sub:
        indexes.change(bus, "ix", IndexState.PARKED)  # between subscribing and the first read
        first = await anext(sub)
        indexes.change(bus, "ix", IndexState.REBUILDING)
        bus.close()
        rest = await drain(sub)
    # The snapshot already shows PARKED: the event that made it so is not repeated after it.
    assert states(first)["ix"] is IndexState.PARKED
    assert [(c.previous, c.state) for c in rest if isinstance(c, StateChange)] == [
        (IndexState.PARKED, IndexState.REBUILDING)
    ]
    assert len(rest) == 1


async def test_a_stalled_subscriber_never_blocks_the_publisher_nor_a_live_one() -> None:
    bus, indexes = EventBus(), Indexes()
    with bus.subscribe(indexes.statuses) as stalled, bus.subscribe(indexes.statuses) as live:
        await anext(stalled)
        await anext(live)
        received = 0
        for _ in range(3):
            publish(bus, SUBSCRIBER_QUEUE_LIMIT)  # publishing is synchronous: it cannot wait on anyone
            while live.backlog:
                await anext(live)
                received += 1
        assert received == 3 * SUBSCRIBER_QUEUE_LIMIT and not live.lagging
        # The stalled one overflowed: its backlog is gone (memory freed), a snapshot is due instead.
        assert stalled.lagging and stalled.backlog == 0


async def test_a_lagging_subscriber_gets_one_fresh_snapshot_then_the_changes_go_on() -> None:
    bus, indexes = EventBus(), Indexes()
    with bus.subscribe(indexes.statuses, limit=3) as sub:
        await anext(sub)
        indexes.change(bus, "ix", IndexState.PARKED)
        indexes.change(bus, "ix", IndexState.REBUILDING)
        indexes.change(bus, "other", IndexState.PARKED)
        assert not sub.lagging and sub.backlog == 3
        indexes.change(bus, "ix", IndexState.READY)  # one too many: the backlog is dropped
        indexes.change(bus, "other", IndexState.REBUILDING)  # missed too, but in the snapshot
        assert sub.lagging and sub.backlog == 0
        resync = await anext(sub)
        assert isinstance(resync, Resync) and resync.lagged and resync.missed == 5
        assert states(resync) == {"ix": IndexState.READY, "other": IndexState.REBUILDING}
        indexes.change(bus, "other", IndexState.READY)
        bus.close()
        rest = await drain(sub)
    assert not sub.lagging
    assert [(c.index, c.previous, c.state) for c in rest if isinstance(c, StateChange)] == [
        ("other", IndexState.REBUILDING, IndexState.READY)
    ]
    assert len(rest) == 1


async def test_resync_all_sends_every_subscriber_a_fresh_snapshot_in_place_of_its_backlog() -> None:
    bus, indexes = EventBus(), Indexes()
    with bus.subscribe(indexes.statuses) as sub, bus.subscribe(indexes.statuses) as idle:
        await anext(sub)
        indexes.change(bus, "ix", IndexState.PARKED)
        bus.resync_all()  # what it holds may be stale: a snapshot replaces it
        indexes.change(bus, "other", IndexState.PARKED)  # after the resync, before the snapshot
        resync = await anext(sub)
        assert isinstance(resync, Resync) and not resync.lagged and resync.missed == 2
        assert states(resync) == {"ix": IndexState.PARKED, "other": IndexState.PARKED}
        first = await anext(idle)  # not started yet: its first snapshot is all it needs
        assert isinstance(first, Resync) and first.missed == 0
        indexes.change(bus, "ix", IndexState.REBUILDING)
        bus.close()
        rest = await drain(sub)
    assert [(c.index, c.state) for c in rest if isinstance(c, StateChange)] == [("ix", IndexState.REBUILDING)]


async def test_deliver_hands_on_a_change_numbered_elsewhere() -> None:
    bus, indexes = EventBus(), Indexes()
    heard: list[int] = []
    bus.add_listener(lambda change: heard.append(change.sequence))
    relayed = StateChange(
        41, "ix", IndexState.READY, IndexState.PARKED, "relayed", indexes.statuses()[0], time=1.0
    )
    with bus.subscribe(indexes.statuses) as sub:
        await anext(sub)
        bus.deliver(relayed)
        assert await anext(sub) is relayed
    assert heard == [41]
    assert bus.next_sequence() == 1  # the bus's own numbering is untouched


async def test_a_waiting_subscriber_wakes_for_a_change_and_for_the_close() -> None:
    bus, indexes = EventBus(), Indexes()
    with bus.subscribe(indexes.statuses) as sub:
        await anext(sub)
        waiting = asyncio.create_task(anext(sub))
        await asyncio.sleep(0)  # let it wait: nothing has been published yet
        assert not waiting.done()
        indexes.change(bus, "ix", IndexState.PARKED)
        change = await waiting
        assert isinstance(change, StateChange) and change.state is IndexState.PARKED
        waiting = asyncio.create_task(anext(sub))
        await asyncio.sleep(0)
        bus.close()
        with pytest.raises(StopAsyncIteration):
            await waiting


async def test_close_ends_every_subscription_even_a_lagging_one() -> None:
    bus, indexes = EventBus(), Indexes()
    lagging, live = bus.subscribe(indexes.statuses, limit=2), bus.subscribe(indexes.statuses)
    await anext(lagging)
    await anext(live)
    publish(bus, 5)
    assert lagging.lagging and live.backlog == 5
    bus.close()
    assert bus.subscriber_count == 0
    # A lagging subscription ends without a snapshot nobody will read; what a live one holds still comes.
    assert await drain(lagging) == []
    assert len(await drain(live)) == 5


async def test_a_subscription_after_the_close_ends_at_once() -> None:
    bus, indexes = EventBus(), Indexes()
    bus.close()
    with bus.subscribe(indexes.statuses) as sub:
        assert await drain(sub) == []
    assert bus.subscriber_count == 0


async def test_leaving_the_block_early_unsubscribes() -> None:
    bus, indexes = EventBus(), Indexes()
    with bus.subscribe(indexes.statuses, kind="watch") as sub:
        assert bus.subscribers("watch") == 1 and bus.subscribers("internal") == 0
        async for update in sub:
            assert isinstance(update, Resync)
            break
    assert bus.subscriber_count == 0 and bus.subscribers("watch") == 0
    publish(bus, 3)  # nothing is kept for a subscriber that left
    assert sub.backlog == 0 and await drain(sub) == []


async def test_a_cancelled_subscriber_is_unsubscribed() -> None:
    bus, indexes = EventBus(), Indexes()
    snapshot_read = asyncio.Event()

    async def consume() -> None:
        with bus.subscribe(indexes.statuses, kind="watch") as sub:
            async for _ in sub:
                snapshot_read.set()

    task = asyncio.create_task(consume())
    await snapshot_read.wait()
    assert bus.subscribers("watch") == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert bus.subscribers("watch") == 0


def test_subscribers_are_counted_by_kind() -> None:
    bus, indexes = EventBus(), Indexes()
    watches = [bus.subscribe(indexes.statuses, kind="watch") for _ in range(3)]
    bus.subscribe(indexes.statuses, kind="health")
    assert (bus.subscribers("watch"), bus.subscribers("health"), bus.subscriber_count) == (3, 1, 4)
    watches[0].close()
    watches[0].close()  # twice is harmless
    assert (bus.subscribers("watch"), bus.subscriber_count) == (2, 3)


def test_a_subscription_holds_at_least_one_event() -> None:
    with pytest.raises(ValueError, match="at least one"):
        EventBus().subscribe(Indexes().statuses, limit=0)


async def test_a_subscription_resumes_after_a_retained_position_or_starts_with_a_snapshot() -> None:
    from semsearch.lifecycle import IndexSlot, IndexState
    from semsearch.lifecycle.events import EventBus, Resync

    bus = EventBus(retain=3)
    slot = IndexSlot("ix", "markdown", (), state=IndexState.READY)
    for n in range(5):
        bus.publish("ix", IndexState.READY, slot.status(), f"change {n + 1}")
    assert bus.latest_sequence == 5
    with bus.subscribe(lambda: [slot.status()], after=3) as resumed:
        got = [await anext(resumed), await anext(resumed)]
        assert [c.sequence for c in got if not isinstance(c, Resync)] == [4, 5]
        assert resumed.resumed
    with bus.subscribe(lambda: [slot.status()], after=1) as too_old:  # 2 is no longer retained
        first = await anext(too_old)
        assert isinstance(first, Resync) and first.sequence == 5 and not too_old.resumed
    with bus.subscribe(lambda: [slot.status()], after=9) as ahead:  # a position this log never had
        assert isinstance(await anext(ahead), Resync)
    with bus.subscribe(lambda: [slot.status()], after=5) as current:  # nothing missed
        bus.publish("ix", IndexState.READY, slot.status(), "change 6")
        change = await anext(current)
        assert not isinstance(change, Resync) and change.sequence == 6
