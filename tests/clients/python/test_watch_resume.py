"""watch_indexes() resumes after the last message it delivered: a cut stream continues with no gap
and no duplicate, a quiet resumed stream is not mistaken for one that never started, and a token kept
from an earlier watch continues it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from semsearch.api.v1 import admin_pb2
from semsearch.lifecycle.events import EventBus, Subscription
from semsearch_client import AsyncSemsearchClient, Backoff, WatchUpdate
from semsearch_client.messages import READY
from tests.clients.python.cutting import CuttingRelay, cutting_relay
from tests.clients.python.watching import Watcher
from tests.support.server import Service

QUICK = Backoff(initial=0.05, maximum=0.5)


@pytest.fixture
async def relay(service: Service) -> AsyncIterator[CuttingRelay]:
    async with cutting_relay(service.app.port) as opened:
        yield opened


class Opened:
    """Every subscription the server's bus opens from now on (one per WatchIndexes stream)."""

    def __init__(self, bus: EventBus, monkeypatch: pytest.MonkeyPatch) -> None:
        self.subscriptions: list[Subscription] = []
        self._changed = asyncio.Event()
        original = bus.subscribe

        def subscribe(*args: Any, **kwargs: Any) -> Subscription:
            sub = original(*args, **kwargs)
            self.subscriptions.append(sub)
            self._changed.set()
            return sub

        monkeypatch.setattr(bus, "subscribe", subscribe)

    async def until(self, condition: Callable[[list[Subscription]], bool], timeout: float = 30) -> None:
        async with asyncio.timeout(timeout):
            while not condition(self.subscriptions):
                self._changed.clear()
                await self._changed.wait()


def rebuilt(watcher: Watcher, name: str, reason: str) -> bool:
    return any(
        u.event is not None and u.event.index == name and u.event.state == READY and reason in u.event.reason
        for u in watcher.updates
    )


def changes(updates: list[WatchUpdate]) -> list[tuple[int, str, int, int, str]]:
    return [
        (u.log_sequence, u.event.index, u.event.previous_state, u.event.state, u.event.reason)
        for u in updates
        if u.event is not None
    ]


@contextlib.asynccontextmanager
async def watching(make: Watcher) -> AsyncIterator[Watcher]:
    try:
        yield make
    finally:
        await make.close()


async def test_a_cut_stream_resumes_after_the_last_message_with_no_gap_and_no_duplicate(
    service: Service, client: AsyncSemsearchClient, relay: CuttingRelay
) -> None:
    async with (
        watching(Watcher(lambda on_retry: client.watch_indexes(on_retry=on_retry))) as reference,
        AsyncSemsearchClient(relay.target) as cut_client,
        watching(
            Watcher(lambda on_retry: cut_client.watch_indexes(backoff=QUICK, on_retry=on_retry))
        ) as watcher,
    ):
        await watcher.until(lambda: bool(watcher.updates))
        await client.reindex("runbooks", reason="before the cut")
        await watcher.until(lambda: rebuilt(watcher, "runbooks", "before the cut"))

        relay.refusing = True
        relay.cut()
        await watcher.until(lambda: bool(watcher.retries))
        # Changes the watcher cannot see while it is away.
        await client.reindex(["eips", "specs"], reason="while away")
        await reference.until(lambda: rebuilt(reference, "eips", "while away"))
        await reference.until(lambda: rebuilt(reference, "specs", "while away"))
        relay.refusing = False
        await watcher.until(lambda: rebuilt(watcher, "specs", "while away"))
        await client.reindex("examples", reason="after the cut")
        await watcher.until(lambda: rebuilt(watcher, "examples", "after the cut"))
        await reference.until(lambda: rebuilt(reference, "examples", "after the cut"))

    before, after = watcher.of_subscription(1), watcher.of_subscription(2)
    assert after and not watcher.of_subscription(3)
    assert after[0].resubscribed and after[0].resumed and after[0].event is not None
    assert after[0].log_sequence == before[-1].log_sequence + 1
    assert after[0].event.reason.endswith("while away")  # what happened while away comes first
    seen = changes(watcher.updates)
    positions = [position for position, *_ in seen]
    assert positions == list(range(positions[0], positions[0] + len(positions)))  # no gap, no duplicate
    # Exactly what an uninterrupted stream saw over the same positions.
    assert seen == [change for change in changes(reference.updates) if change[0] >= positions[0]]
    assert watcher.states() == reference.states()


async def test_a_resumed_stream_with_nothing_to_send_does_not_fail_its_start_timeout(
    service: Service, relay: CuttingRelay, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = Opened(service.app.manager.bus, monkeypatch)
    start_timeout = 0.2
    async with (
        AsyncSemsearchClient(relay.target) as client,
        watching(
            Watcher(
                lambda on_retry: client.watch_indexes(
                    backoff=QUICK, start_timeout=start_timeout, on_retry=on_retry
                )
            )
        ) as watcher,
    ):
        await watcher.until(lambda: bool(watcher.updates))
        streams = len(opened.subscriptions)
        relay.cut()  # nothing changes meanwhile: the resumed stream has nothing to send
        await opened.until(lambda subs: len(subs) > streams and subs[-1].resumed)
        # Several start timeouts pass on a quiet stream: none of them may count as a failed start.
        await asyncio.sleep(5 * start_timeout)
        await service.admin.Reindex(admin_pb2.ReindexRequest(indexes=["specs"], reason="much later"))
        await watcher.until(lambda: rebuilt(watcher, "specs", "much later"))

    assert len(watcher.retries) == 1 and watcher.retries[0][2] is not None  # the cut, nothing else
    first, resumed = watcher.of_subscription(1), watcher.of_subscription(2)
    assert resumed[0].resumed and resumed[0].log_sequence == first[-1].log_sequence + 1


async def test_a_kept_resume_token_continues_an_earlier_watch(
    service: Service, client: AsyncSemsearchClient
) -> None:
    async with client.watch_indexes() as stream:
        snapshot = await anext(stream)
    assert snapshot.snapshot is not None and snapshot.resume_token and not snapshot.resumed
    await client.reindex("eips", reason="while nobody watched")

    async with client.watch_indexes(resume_token=snapshot.resume_token) as stream:
        first = await anext(stream)
        updates = [first]
        while not (updates[-1].event is not None and updates[-1].event.state == READY):
            updates.append(await anext(stream))
    assert first.event is not None and first.resumed and not first.resubscribed
    assert (first.subscription, first.sequence) == (1, 1)
    assert first.log_sequence == snapshot.log_sequence + 1
    assert all(u.event is not None and u.event.reason.endswith("while nobody watched") for u in updates)


async def test_a_token_of_another_server_starts_with_a_snapshot(client: AsyncSemsearchClient) -> None:
    async with client.watch_indexes(resume_token="0123abcd.5") as stream:
        first = await anext(stream)
    assert first.snapshot is not None and not first.resumed
