"""The Python client over several replicas on one PostgreSQL: a watch whose replica stops resumes on
another replica with no gap and no duplicate, and the client's searches keep being answered."""

from __future__ import annotations

import contextlib

import pytest

from semsearch.app import RunningApp, running
from semsearch.lifecycle import IndexState
from semsearch.proxy.launcher import ProxyProcess
from semsearch.service.admin import WATCH_SUBSCRIPTION
from semsearch_client import AsyncSemsearchClient, Backoff
from semsearch_client.messages import READY
from tests.clients.python.watching import Watcher
from tests.support.postgres import postgres_dsn, postgres_server  # noqa: F401 (fixtures)
from tests.support.replicas import replica_config, until

pytestmark = pytest.mark.slow

QUICK = Backoff(initial=0.05, maximum=0.5)


def serves_everything(app: RunningApp) -> bool:
    return all(
        slot.state is IndexState.READY and slot.index is not None for slot in app.manager.slots.values()
    )


def watching_here(app: RunningApp) -> int:
    return app.server.admin.feed.bus.subscribers(WATCH_SUBSCRIPTION)


def rebuilt(watcher: Watcher, reason: str) -> bool:
    return any(
        u.event is not None and u.event.state == READY and reason in u.event.reason for u in watcher.updates
    )


async def test_a_watch_resumes_on_another_replica_when_its_replica_stops(
    postgres_dsn: str,  # noqa: F811 (the fixture imported above)
    hash_proxy: ProxyProcess,
) -> None:
    config = replica_config(hash_proxy.url, postgres_dsn)
    async with contextlib.AsyncExitStack() as stack:
        lives = [contextlib.AsyncExitStack() for _ in range(2)]  # each replica stoppable on its own
        for life in lives:
            stack.push_async_callback(life.aclose)
        apps = [await life.enter_async_context(running(config)) for life in lives]
        await until(lambda: all(serves_everything(app) for app in apps), 120, "every replica serving")

        client = AsyncSemsearchClient([f"127.0.0.1:{app.port}" for app in apps])
        stack.push_async_callback(client.close)
        watcher = Watcher(lambda on_retry: client.watch_indexes(backoff=QUICK, on_retry=on_retry))
        stack.push_async_callback(watcher.close)
        await watcher.until(lambda: bool(watcher.updates))
        await client.reindex("runbooks", reason="before the stop")
        await watcher.until(lambda: rebuilt(watcher, "before the stop"))

        (gone,) = [i for i, app in enumerate(apps) if watching_here(app)]
        survivor = apps[1 - gone]
        await lives[gone].aclose()  # a graceful stop: the stream ends, the client resubscribes
        # The survivor indexes from now on (it may have to take the lease first).
        await until(lambda: survivor.replication is not None and survivor.replication.role.leading, 120)
        await client.reindex("eips", reason="after the stop")
        await watcher.until(lambda: rebuilt(watcher, "after the stop"), timeout=120)
        assert watching_here(survivor) == 1
        assert (await client.search("validator", mode="lexical")).hits

    before, after = watcher.of_subscription(1), watcher.of_subscription(2)
    assert after and after[0].resubscribed and after[0].resumed  # the same log: no snapshot
    assert after[0].log_sequence == before[-1].log_sequence + 1
    positions = [u.log_sequence for u in watcher.updates]
    assert positions == list(range(positions[0], positions[0] + len(positions)))  # no gap, no duplicate
