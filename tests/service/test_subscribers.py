"""A hundred WatchIndexes subscribers that stop reading: the live one is not delayed, memory stays bounded.

A subscriber that does not read cannot slow a state change down (publishing never awaits), nor
make the server hoard events for it: its queue is bounded, and once it overflows the subscriber is
marked as lagging, its backlog is dropped, and it later gets one fresh snapshot in place of
everything it missed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest

from semsearch.api.v1 import admin_pb2, admin_pb2_grpc, types_pb2
from semsearch.lifecycle import EventBus, IndexState, Subscription
from semsearch.lifecycle.events import SUBSCRIBER_QUEUE_LIMIT
from semsearch.proxy.launcher import ProxyProcess
from tests.support.oracle import Watch
from tests.support.server import Service

STALLED = 100
READY, PARKED, REBUILDING = (
    types_pb2.INDEX_STATE_READY,
    types_pb2.INDEX_STATE_PARKED,
    types_pb2.INDEX_STATE_REBUILDING,
)
SWITCH = [(READY, PARKED), (PARKED, REBUILDING), (REBUILDING, READY)]  # per index, per model switch


class BusSpy:
    """Calls through to the real bus and records the subscriptions it opens and closes."""

    def __init__(self, bus: EventBus, monkeypatch: pytest.MonkeyPatch) -> None:
        self.opened: list[Subscription] = []
        self.closed: list[Subscription] = []
        self._changed = asyncio.Event()
        subscribe, unsubscribe = bus.subscribe, bus.unsubscribe

        def spy_subscribe(*args: Any, **kwargs: Any) -> Subscription:
            sub = subscribe(*args, **kwargs)
            self.opened.append(sub)
            self._changed.set()
            return sub

        def spy_unsubscribe(sub: Subscription) -> None:
            unsubscribe(sub)
            self.closed.append(sub)
            self._changed.set()

        monkeypatch.setattr(bus, "subscribe", spy_subscribe)
        monkeypatch.setattr(bus, "unsubscribe", spy_unsubscribe)

    async def until(self, condition: Callable[[], bool], timeout: float = 30) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                self._changed.clear()  # nothing runs between the check and here: no wake-up is lost
                await self._changed.wait()


@pytest.fixture
async def stalled_admin(service: Service) -> AsyncIterator[admin_pb2_grpc.AdminServiceStub]:
    """AdminService on a channel whose flow-control window stays at HTTP/2's 64 KiB.

    With grpc's bandwidth probing a window grows to megabytes, which a client that does not read
    fills only after thousands of events (each carries its index: a few hundred bytes);
    until then the server has nothing to hold back. A small window shows the bound sooner.
    """
    channel = grpc.aio.insecure_channel(
        f"127.0.0.1:{service.app.port}", options=[("grpc.http2.bdp_probe", 0)]
    )
    yield admin_pb2_grpc.AdminServiceStub(channel)
    await channel.close()


def in_model(watch: Watch, model: str) -> Callable[[], bool]:
    return lambda: all(ix.state == READY and ix.space.model == model for ix in watch.view.values())


def transitions(watch: Watch, start: int = 0) -> dict[str, list[tuple[int, int]]]:
    seen: dict[str, list[tuple[int, int]]] = {}
    for change in watch.changes[start:]:
        seen.setdefault(change.index, []).append((change.previous_state, change.state))
    return seen


async def test_a_hundred_stalled_subscribers_neither_delay_a_live_one_nor_grow_without_bound(
    hash_proxy: ProxyProcess,
    service: Service,
    stalled_admin: admin_pb2_grpc.AdminServiceStub,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    manager = service.app.manager
    live = Watch(service.admin)
    await live.until(lambda: live.snapshots == 1)
    baseline = manager.bus.subscriber_count
    spy = BusSpy(manager.bus, monkeypatch)
    # Half never read a message, half read the snapshot and stop.
    stalled = [Watch(stalled_admin, stall_after=n % 2) for n in range(STALLED)]
    await spy.until(lambda: len(spy.opened) == STALLED)
    subscriptions = list(spy.opened)
    assert manager.bus.subscriber_count == baseline + STALLED

    # Model switches: the live subscriber sees every transition of every index, in order.
    for model in ("hash-v2", "hash-v3", "hash-v4"):
        seen = live.events
        await hash_proxy.switch_model(model)
        manager.wake("test: model switched")
        await live.until(in_model(live, model))
        assert transitions(live, seen) == {name: SWITCH for name in manager.slots}, model

    # Far more events than a queue holds, in rounds the live subscriber keeps up with.
    async def flood(rounds: int) -> None:
        for _ in range(rounds):
            target = live.events + SUBSCRIBER_QUEUE_LIMIT // 2
            for _ in range(SUBSCRIBER_QUEUE_LIMIT // 2):
                manager.bus.publish("eips", IndexState.READY, manager.status("eips"), "synthetic")
            await live.until(lambda t=target: live.events >= t)

    await flood(4)
    queued = [sub.backlog for sub in subscriptions]
    assert all(sub.lagging for sub in subscriptions), "a stalled subscriber was not marked as lagging"
    assert max(queued) <= SUBSCRIBER_QUEUE_LIMIT
    await flood(4)
    assert [sub.backlog for sub in subscriptions] == queued, "a full backlog kept growing"
    published = live.events
    print(
        f"\n{STALLED} stalled subscribers, {published} events published: the live one got all of them; "
        f"each stalled queue holds at most {max(queued)} (bound {SUBSCRIBER_QUEUE_LIMIT}), "
        f"{sum(queued)} events in all"
    )

    # A stalled subscriber that reads again gets a fresh snapshot in place of what it missed.
    listed = (await service.admin.ListIndexes(admin_pb2.ListIndexesRequest())).indexes
    expected = {ix.name: ix for ix in listed}
    resumed = stalled[:4]
    for watch in resumed:
        watch.resume()
    for watch in resumed:
        await watch.until(lambda w=watch: w.snapshots == 2)
        assert watch.problems == []
        assert watch.view == expected
        assert watch.events < published

    # Cancelled streams leave nothing behind on the bus.
    for watch in stalled:
        await watch.close()
    await spy.until(lambda: manager.bus.subscriber_count == baseline)
    assert {id(sub) for sub in subscriptions} <= {id(sub) for sub in spy.closed}
    await live.close()
    assert live.problems == [] and live.snapshots == 1  # never fell behind: every event, in order
