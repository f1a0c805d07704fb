"""watch_indexes() against real servers: a model switch, a server restart, and every way to stop."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
from collections.abc import Iterator

import pytest

from semsearch.api.v1 import admin_pb2
from semsearch.app import running
from semsearch.lifecycle.events import Subscription
from semsearch.proxy.launcher import ProxyProcess
from semsearch_client import (
    AsyncSemsearchClient,
    Backoff,
    DeadlineExceededError,
    NotFoundError,
    UnreachableError,
)
from semsearch_client.messages import PARKED, READY, REBUILDING
from tests.clients.python.watching import Watcher
from tests.support.corpora import FIXTURE_INDEXES
from tests.support.server import Service, fixture_config
from tests.support.waiting import wait_all_ready

NAMES = [ix["name"] for ix in FIXTURE_INDEXES]
QUICK = Backoff(initial=0.05, maximum=0.5)


def unsubscribed(service: Service, monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """Set when the server drops a watch subscription, i.e. when the stream's handler has ended."""
    bus = service.app.manager.bus
    dropped = asyncio.Event()
    original = bus.unsubscribe

    def unsubscribe(subscription: Subscription) -> None:
        original(subscription)
        dropped.set()

    monkeypatch.setattr(bus, "unsubscribe", unsubscribe)
    return dropped


async def test_a_watch_sees_every_index_park_rebuild_and_come_back_after_a_model_switch(
    hash_proxy: ProxyProcess, service: Service, client: AsyncSemsearchClient
) -> None:
    watcher = Watcher(lambda on_retry: client.watch_indexes(on_retry=on_retry))
    await watcher.until(lambda: bool(watcher.updates))
    first = watcher.updates[0]
    assert first.snapshot is not None and (first.sequence, first.subscription, first.resubscribed) == (
        1,
        1,
        False,
    )
    assert [ix.name for ix in first.snapshot.indexes] == NAMES and watcher.all_ready()

    await hash_proxy.switch_model("hash-v2")
    service.app.manager.wake("test: model switched")
    await watcher.until(lambda: all(len(watcher.transitions()[name]) >= 3 for name in NAMES))
    await watcher.close()

    transitions = watcher.transitions()
    for name in NAMES:
        assert transitions[name] == [(READY, PARKED), (PARKED, REBUILDING), (REBUILDING, READY)], name
    events = [u.event for u in watcher.updates if u.event is not None]
    assert max(i for i, e in enumerate(events) if e.state == PARKED) < min(
        i for i, e in enumerate(events) if e.state == REBUILDING
    ), "an index was rebuilt before every index was parked"
    for event in events:
        if event.state == REBUILDING:  # progress starts at zero of every chunk of the index
            assert event.current.HasField("progress") and event.current.progress.chunks_done == 0
            assert event.current.progress.chunks_total == event.current.chunk_count > 0
        if event.state == READY:
            assert event.reason == "rebuilt" and not event.current.HasField("progress")
            assert (event.current.space.model, event.current.generation) == ("hash-v2", 2)
    assert [u.sequence for u in watcher.updates] == list(range(1, len(watcher.updates) + 1))
    assert not watcher.retries and all(u.subscription == 1 for u in watcher.updates)


async def test_a_watch_survives_a_server_restart(hash_proxy: ProxyProcess) -> None:
    config = fixture_config(hash_proxy.url)
    async with contextlib.AsyncExitStack() as stack:
        first = contextlib.AsyncExitStack()  # the first server, stopped halfway through
        stack.push_async_callback(first.aclose)
        app = await first.enter_async_context(running(config))
        await wait_all_ready(app.manager)
        target = f"127.0.0.1:{app.port}"
        client = AsyncSemsearchClient(target)
        stack.push_async_callback(client.close)
        watcher = Watcher(lambda on_retry: client.watch_indexes(backoff=QUICK, on_retry=on_retry))
        stack.push_async_callback(watcher.close)
        await watcher.until(lambda: bool(watcher.updates))
        assert watcher.all_ready()

        await first.aclose()
        # The stream ended with the shutdown, and resubscribing fails while nothing listens.
        await watcher.until(lambda: any(isinstance(e, UnreachableError) for _, _, e in watcher.retries))
        assert watcher.retries[0][2] is None, "a graceful shutdown ends the stream with OK"

        restarted = dataclasses.replace(config, server=dataclasses.replace(config.server, listen=target))
        second = await stack.enter_async_context(running(restarted))
        assert second.port == app.port
        await watcher.until(lambda: bool(watcher.of_subscription(2)))
        snapshot = watcher.of_subscription(2)[0]
        assert snapshot.resubscribed and snapshot.sequence == 1 and snapshot.snapshot is not None
        assert not snapshot.resumed  # the restarted server keeps another log: a fresh snapshot
        assert [ix.name for ix in snapshot.snapshot.indexes] == NAMES
        # The new server builds its indexes from scratch; its events arrive through the same iterator.
        await watcher.until(watcher.all_ready)
        await client.reindex("eips", reason="after the restart")

        def reindexed() -> bool:
            return any(
                u.event is not None and u.event.index == "eips" and "after the restart" in u.event.reason
                for u in watcher.of_subscription(2)
            )

        await watcher.until(reindexed)
        later = watcher.of_subscription(2)
        assert [u.sequence for u in later] == list(range(1, len(later) + 1))
        assert [u.resubscribed for u in watcher.updates].count(True) == 1
        assert all(u.generation == 1 for u in second.manager.statuses() if u.name != "eips")


async def test_aclose_ends_the_stream_on_the_server(
    service: Service, client: AsyncSemsearchClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    dropped = unsubscribed(service, monkeypatch)
    bus = service.app.manager.bus
    before = bus.subscriber_count  # the server's own listeners
    stream = client.watch_indexes("eips")
    first = await anext(stream)
    assert first.snapshot is not None and [ix.name for ix in first.snapshot.indexes] == ["eips"]
    assert bus.subscriber_count == before + 1
    await stream.aclose()
    await asyncio.wait_for(dropped.wait(), 30)
    assert bus.subscriber_count == before
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


async def test_leaving_the_async_with_block_ends_the_stream(
    service: Service, client: AsyncSemsearchClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    dropped = unsubscribed(service, monkeypatch)
    before = service.app.manager.bus.subscriber_count
    async with client.watch_indexes() as stream:
        async for update in stream:
            assert update.snapshot is not None and service.app.manager.bus.subscriber_count == before + 1
            break
    await asyncio.wait_for(dropped.wait(), 30)
    assert service.app.manager.bus.subscriber_count == before


async def test_cancelling_the_consumer_stops_a_watch_that_is_resubscribing(dead_target: str) -> None:
    async with AsyncSemsearchClient(dead_target) as client:
        watcher = Watcher(lambda on_retry: client.watch_indexes(backoff=QUICK, on_retry=on_retry))
        await watcher.until(lambda: len(watcher.retries) >= 3)
        assert [attempt for attempt, _, _ in watcher.retries[:3]] == [1, 2, 3]
        assert all(isinstance(error, UnreachableError) for _, _, error in watcher.retries)
        watcher.task.cancel()
        async with asyncio.timeout(10):
            with pytest.raises(asyncio.CancelledError):
                await watcher.task
        assert not watcher.updates


async def test_closing_the_client_ends_its_watches(target: str) -> None:
    client = AsyncSemsearchClient(target)
    watcher = Watcher(lambda on_retry: client.watch_indexes(on_retry=on_retry))
    await watcher.until(lambda: bool(watcher.updates))
    await client.close()
    async with asyncio.timeout(10):
        await watcher.task  # ends on its own, without an error
    assert watcher.error is None and not watcher.retries and len(watcher.updates) == 1


async def test_closing_the_client_ends_a_watch_that_is_resubscribing(dead_target: str) -> None:
    client = AsyncSemsearchClient(dead_target)
    watcher = Watcher(lambda on_retry: client.watch_indexes(backoff=QUICK, on_retry=on_retry))
    await watcher.until(lambda: bool(watcher.retries))
    await client.close()
    async with asyncio.timeout(10):
        await watcher.task
    assert watcher.error is None and not watcher.updates


async def test_an_unknown_index_is_refused_not_resubscribed(client: AsyncSemsearchClient) -> None:
    retries: list[int] = []
    stream = client.watch_indexes(["eips", "nope"], on_retry=lambda attempt, _, __: retries.append(attempt))
    with pytest.raises(NotFoundError) as caught:
        await anext(stream)
    assert caught.value.metadata["index"] == "nope" and not retries


async def test_max_attempts_bounds_failed_subscriptions(dead_target: str) -> None:
    retries: list[int] = []
    async with AsyncSemsearchClient(dead_target) as client:
        stream = client.watch_indexes(
            backoff=Backoff(initial=0.01),
            max_attempts=3,
            on_retry=lambda attempt, _, __: retries.append(attempt),
        )
        with pytest.raises(UnreachableError):
            await anext(stream)
    assert retries == [1, 2]


@pytest.mark.slow
async def test_a_stream_cut_by_the_server_resumes_on_the_same_server(service: Service, target: str) -> None:
    # A default gRPC server answers pings more often than every 5 minutes on a quiet stream with
    # GOAWAY "too_many_pings": the reason the client's keepalive default is 6 minutes. Here it is
    # provoked on purpose to cut a live stream without stopping the server.
    async with AsyncSemsearchClient(target, options=[("grpc.keepalive_time_ms", 500)]) as client:
        watcher = Watcher(lambda on_retry: client.watch_indexes(backoff=QUICK, on_retry=on_retry))
        await watcher.until(lambda: bool(watcher.retries))  # cut at least once
        await service.admin.Reindex(admin_pb2.ReindexRequest(indexes=["specs"], reason="after a cut"))
        await watcher.until(
            lambda: any(u.event is not None and "after a cut" in u.event.reason for u in watcher.updates)
        )
        await watcher.close()
    assert watcher.retries and all(isinstance(error, UnreachableError) for _, _, error in watcher.retries)
    # The server still held every event after the last message: the stream continued, no snapshot.
    assert [u.snapshot is not None for u in watcher.updates].count(True) == 1
    later = [u for u in watcher.updates if u.subscription > 1]
    assert later and all(u.event is not None for u in later) and later[0].resumed
    positions = [u.log_sequence for u in watcher.updates]
    assert positions == list(range(positions[0], positions[0] + len(positions)))


@pytest.fixture
def silent_target() -> Iterator[str]:
    """An address that accepts TCP connections (the kernel's backlog) and never speaks HTTP/2."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        yield f"127.0.0.1:{silent.getsockname()[1]}"


async def test_fail_fast_raises_when_the_first_subscription_fails(dead_target: str) -> None:
    retries: list[int] = []
    async with AsyncSemsearchClient(dead_target) as client:
        stream = client.watch_indexes(
            backoff=QUICK, fail_fast=True, on_retry=lambda attempt, _, __: retries.append(attempt)
        )
        with pytest.raises(UnreachableError):
            await anext(stream)
    assert retries == []


async def test_a_stream_that_does_not_start_in_time_fails_with_deadline_exceeded(silent_target: str) -> None:
    async with AsyncSemsearchClient(silent_target) as client:
        stream = client.watch_indexes(fail_fast=True, start_timeout=0.2)
        with pytest.raises(DeadlineExceededError, match=r"did not start within 0\.2s"):
            await anext(stream)


async def test_without_fail_fast_a_stream_that_does_not_start_is_retried(silent_target: str) -> None:
    async with AsyncSemsearchClient(silent_target) as client:
        watcher = Watcher(
            lambda on_retry: client.watch_indexes(backoff=QUICK, start_timeout=0.1, on_retry=on_retry)
        )
        try:
            await watcher.until(lambda: len(watcher.retries) >= 2)
        finally:
            await watcher.close()
    assert [attempt for attempt, _, _ in watcher.retries[:2]] == [1, 2]
    assert all(isinstance(error, DeadlineExceededError) for _, _, error in watcher.retries)
    assert watcher.error is None and not watcher.updates


async def test_fail_fast_still_resubscribes_once_a_stream_delivered(hash_proxy: ProxyProcess) -> None:
    config = fixture_config(hash_proxy.url)
    async with contextlib.AsyncExitStack() as stack:
        server = contextlib.AsyncExitStack()
        stack.push_async_callback(server.aclose)
        app = await server.enter_async_context(running(config))
        client = AsyncSemsearchClient(f"127.0.0.1:{app.port}")
        stack.push_async_callback(client.close)
        watcher = Watcher(
            lambda on_retry: client.watch_indexes(
                backoff=QUICK, fail_fast=True, start_timeout=10, on_retry=on_retry
            )
        )
        stack.push_async_callback(watcher.close)
        await watcher.until(lambda: bool(watcher.updates))
        await server.aclose()
        await watcher.until(lambda: any(isinstance(e, UnreachableError) for _, _, e in watcher.retries))
        assert watcher.error is None and not watcher.task.done()


@pytest.mark.parametrize("start_timeout", [0, -1.0])
async def test_a_start_timeout_must_be_positive(dead_target: str, start_timeout: float) -> None:
    async with AsyncSemsearchClient(dead_target) as client:
        with pytest.raises(ValueError, match="start_timeout"):
            client.watch_indexes(start_timeout=start_timeout)
