"""Start a real grpc.aio semsearch server in-process and talk to it through the generated stubs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import httpx

from semsearch.api.v1 import admin_pb2_grpc, search_pb2_grpc
from semsearch.app import RunningApp, running
from semsearch.config import Config, parse_config
from tests.support.corpora import FIXTURE_CORPORA, FIXTURE_INDEXES
from tests.support.waiting import wait_all_ready

# The store every fixture config uses unless a test names one: None is the local default; the
# suites that run again on PostgreSQL set it for their tests (see tests/replicas/).
DEFAULT_STORE: dict[str, Any] | None = None

# Tests wait on events, not timers: the poll interval is long unless a test shortens it, and
# failed ticks retry within milliseconds.
FAST_WATCHER = {"interval_seconds": 600.0, "backoff_base_seconds": 0.05, "backoff_cap_seconds": 0.2}


def fixture_config(
    url: str,
    model: str = "hash-v1",
    watcher: dict[str, float] | None = None,
    cache: dict[str, Any] | None = None,
    indexes: list[dict[str, str]] | None = None,
    store: dict[str, Any] | None = None,
    **embeddings: Any,
) -> Config:
    """A config over the fixture corpora; the durable cache is off unless a test gives it a path."""
    raw: dict[str, Any] = {
        "server": {"listen": "127.0.0.1:0", "grace_seconds": 1.0},
        "embeddings": {"url": url, "model": model, "batch_size": 8, **embeddings},
        "watcher": {**FAST_WATCHER, **(watcher or {})},
        "cache": {"path": "", **(cache or {})},
        "index": indexes or FIXTURE_INDEXES,
    }
    store = store if store is not None else DEFAULT_STORE
    if store is not None:
        raw["store"] = store
    return parse_config(raw, FIXTURE_CORPORA, env={})


async def feed_caught_up(running_app: RunningApp | Service) -> None:
    """On a replica, until its watch feed holds what its own indexer did (the shared log's round
    trip); at once on a server alone, whose feed is its own bus."""
    app = running_app.app if isinstance(running_app, Service) else running_app
    if app.replication is not None:
        await app.replication.caught_up()


@dataclass
class Service:
    app: RunningApp
    channel: grpc.aio.Channel
    search: search_pb2_grpc.SearchServiceStub
    admin: admin_pb2_grpc.AdminServiceStub


async def service_factory() -> AsyncIterator[Any]:
    """Factory: start a server for a config (optionally with a fault transport); all stopped after."""
    stack: list[Any] = []

    async def start(
        config: Config, transport: httpx.AsyncBaseTransport | None = None, ready: bool = True
    ) -> Service:
        context = running(config, provider_transport=transport)
        app = await context.__aenter__()
        stack.append(context)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{app.port}")
        stack.append(channel)
        if ready:
            await wait_all_ready(app.manager)
            await asyncio.wait_for(app.watcher.settled.wait(), 60)  # built_space recorded too
            await feed_caught_up(app)
        return Service(
            app, channel, search_pb2_grpc.SearchServiceStub(channel), admin_pb2_grpc.AdminServiceStub(channel)
        )

    yield start
    for item in reversed(stack):
        if isinstance(item, grpc.aio.Channel):
            await item.close()
        else:
            await item.__aexit__(None, None, None)
