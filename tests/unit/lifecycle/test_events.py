"""The event bus: numbered events, bounded subscribers that never block the publisher, clean close."""

from __future__ import annotations

from semsearch.lifecycle import EventBus, IndexSlot, IndexState
from semsearch.lifecycle.events import SUBSCRIBER_QUEUE_LIMIT


def publish(bus: EventBus, count: int) -> None:
    slot = IndexSlot("ix", "markdown", (), state=IndexState.READY)
    for _ in range(count):
        bus.publish("ix", IndexState.READY, slot.status(), "swap")


def test_sequence_numbers_increase_by_one() -> None:
    bus = EventBus()
    seen: list[int] = []
    bus.add_listener(lambda change: seen.append(change.sequence))
    publish(bus, 5)
    assert seen == [1, 2, 3, 4, 5]


def test_a_stalled_subscriber_is_marked_lagged_and_never_blocks_a_live_one() -> None:
    bus = EventBus()
    stalled, live = bus.subscribe(), bus.subscribe()
    received = 0
    for _ in range(3):
        publish(bus, SUBSCRIBER_QUEUE_LIMIT)  # publishing is synchronous: it cannot wait on anyone
        while not live.queue.empty():
            live.queue.get_nowait()
            received += 1
    assert received == 3 * SUBSCRIBER_QUEUE_LIMIT and not live.lagged
    assert stalled.lagged and stalled.queue.qsize() == SUBSCRIBER_QUEUE_LIMIT


def test_close_ends_every_subscription_even_a_full_one() -> None:
    bus = EventBus()
    full, empty = bus.subscribe(), bus.subscribe()
    publish(bus, SUBSCRIBER_QUEUE_LIMIT + 5)
    while not empty.queue.empty():
        empty.queue.get_nowait()
    bus.close()
    assert empty.queue.get_nowait() is None
    drained = [full.queue.get_nowait() for _ in range(full.queue.qsize())]
    assert drained[-1] is None
    assert bus.subscriber_count == 0
