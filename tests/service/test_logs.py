"""The audit trail: with JSON logs, every line parses and every state change and reindex decision is
one event that says why — an operator Reindex, a model switch, a failed rebuild and its retry."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx

from semsearch.api.v1 import admin_pb2, search_pb2
from semsearch.lifecycle import IndexState, StateChange
from semsearch.logs import JsonFormatter
from semsearch.proxy.launcher import ProxyProcess
from tests.support.corpora import fixture_chunks
from tests.support.faults import FaultTransport, status
from tests.support.server import Service, fixture_config
from tests.support.waiting import wait_for

INDEXES = ("runbooks", "eips", "specs", "examples")
EIP_TEXTS = {chunk.text for (index, _), chunk in fixture_chunks().items() if index == "eips"}


@contextlib.contextmanager
def json_log() -> Iterator[io.StringIO]:
    """Every record, from every logger, formatted as the server does with log_format = "json"."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)


async def test_state_changes_and_reindex_decisions_are_json_events_with_reasons(
    hash_proxy: ProxyProcess, make_service: Any
) -> None:
    armed = False  # while set, every eips build batch fails with a 503

    def eips_batches(request: httpx.Request) -> Any:
        inputs = set(json.loads(request.content)["input"])
        return status(503, {"retry-after": "0"}) if armed and inputs & EIP_TEXTS else None

    faults = FaultTransport(httpx.AsyncHTTPTransport(), when=eips_batches)
    with json_log() as buffer:
        service: Service = await make_service(fixture_config(hash_proxy.url, max_retries=1), transport=faults)
        manager = service.app.manager

        def disarm_once_failed(change: StateChange) -> None:
            nonlocal armed
            if change.index == "eips" and change.reason == "rebuild failed":
                armed = False  # one failed reindex is enough: the retry heals

        manager.bus.add_listener(disarm_once_failed)
        await service.search.Search(search_pb2.SearchRequest(query="blob fee market"))

        # An operator's Reindex of one index.
        await service.admin.Reindex(admin_pb2.ReindexRequest(indexes=["eips"], reason="audit: operator"))
        await wait_for(manager, lambda: manager.status("eips").generation == 2)

        # A model switch whose first reindex fails on eips, then a retry that completes.
        armed = True
        await hash_proxy.switch_model("hash-v2")
        manager.wake("test: model switched")
        await wait_for(
            manager,
            lambda: (
                manager.all_ready()
                and all(s.space and s.space.model == "hash-v2" for s in manager.statuses())
            ),
        )
        await asyncio.wait_for(service.app.watcher.settled.wait(), 60)  # built_space recorded too
        await service.search.Search(search_pb2.SearchRequest(query="blob fee market"))

    lines = buffer.getvalue().splitlines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"ts", "level", "logger", "event"} <= record.keys() for record in records)

    def events(name: str, **fields: Any) -> list[dict[str, Any]]:
        return [r for r in records if r["event"] == name and all(r.get(k) == v for k, v in fields.items())]

    changes = events("index_state_changed")
    assert all(change["reason"] for change in changes)
    # Nothing published on the bus is missing from the log: the sequence numbers have no gap.
    assert [c["sequence"] for c in changes] == list(range(1, len(changes) + 1))
    states = {(c["index"], c["previous"], c["state"], c["reason"]) for c in changes}
    switched = "embedding space changed: hash-v1/384 -> hash-v2/384"
    for name in INDEXES:
        assert (name, "PARKED", "PARKED", "startup") in states
        assert (name, "PARKED", "REBUILDING", "rebuilding in hash-v1/384") in states
        assert (name, "REBUILDING", "READY", "rebuilt") in states
        assert (name, "READY", "PARKED", switched) in states
        assert (name, "PARKED", "REBUILDING", "rebuilding in hash-v2/384") in states
    assert ("eips", "READY", "READY", "reindexed: audit: operator") in states
    assert ("eips", "REBUILDING", "PARKED", "rebuild failed") in states
    failed = events("index_state_changed", index="eips", reason="rebuild failed")[0]
    assert "HTTP 503" in failed["last_error"]

    assert_decisions_logged(events, switched, states)
    assert manager.status("eips").state is IndexState.READY


def assert_decisions_logged(events: Any, switched: str, states: set[tuple[str, str, str, str]]) -> None:
    """The watcher's and the operator's decisions, each logged with its reason."""
    assert events("reindex_requested", indexes="eips", reason="audit: operator")
    assert events("watcher_woken", reason="reindex requested: audit: operator")
    assert events("watcher_woken", reason="test: model switched")
    assert events("reindex_started", reason="first build")
    assert events("reindex_started", reason=switched)  # the first attempt, which fails
    assert events("reindex_started", reason="retrying an incomplete reindex in hash-v2/384")
    assert events("watcher_backoff", failures=1)
    assert events("refresh_started", indexes="eips", space="hash-v1/384")
    assert events("provider_retry", task="document")
    assert events("reindex_incomplete", failed="eips", space="hash-v2/384")
    assert ("runbooks", "READY", "PARKED", "reindex incomplete: eips failed") in states  # re-parked
    assert events("reindex_complete", space="hash-v2/384")
    assert events("query_cache_cleared", reason="provider space changed", space="hash-v2/384")
