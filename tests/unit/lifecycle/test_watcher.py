"""The watcher's decisions, tick by tick, against the real provider app in-process.

Faults are injected between the provider client and the app; ticks are called directly, so every
case is exact and no test waits on a timer.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from semsearch.corpus import load_corpus
from semsearch.embeddings import PROBE_TEXT, EmbeddingProvider, EmbeddingSpace
from semsearch.lifecycle import IndexManager, IndexSource, IndexState, StateChange, Watcher, WatcherTiming
from semsearch.lifecycle.watcher import FREE_RESTARTS, Decision, Outcome, decide
from semsearch.proxy.app import create_app
from semsearch.proxy.hashing import hash_embed
from semsearch.proxy.models import load_model
from tests.support.corpora import FIXTURE_CORPORA
from tests.support.faults import FaultTransport, raise_, status
from tests.support.waiting import wait_all_ready, wait_for

READY, PARKED, REBUILDING = IndexState.READY, IndexState.PARKED, IndexState.REBUILDING
V1 = EmbeddingSpace("hash-v1", 384, (1.0, 0.0))
V1_AGAIN = EmbeddingSpace("hash-v1", 384, (0.99999, 0.001))
V1_SWAPPED = EmbeddingSpace("hash-v1", 384, (0.0, 1.0))
V2 = EmbeddingSpace("hash-v2", 384, (1.0, 0.0))


@pytest.mark.parametrize(
    ("probed", "built", "incomplete", "all_ready", "forced", "expected"),
    [
        (V1, None, False, False, False, Decision.REINDEX_ALL),  # first build
        (V1, V1, False, True, False, Decision.NOTHING),  # no change
        (V1_AGAIN, V1, False, True, False, Decision.NOTHING),  # fingerprint within tolerance
        (V2, V1, False, True, False, Decision.REINDEX_ALL),  # model changed
        (V1_SWAPPED, V1, False, True, False, Decision.REINDEX_ALL),  # same name, other model
        (V1, V1, True, False, False, Decision.REINDEX_ALL),  # last reindex incomplete
        (V1, V1, False, False, False, Decision.REINDEX_ALL),  # an index is not READY
        (V1, V1, False, True, True, Decision.REFRESH),  # an operator asked for a reindex
        (V2, V1, False, True, True, Decision.REINDEX_ALL),  # a change covers a requested reindex
    ],
)
def test_decide(
    probed: EmbeddingSpace,
    built: EmbeddingSpace | None,
    incomplete: bool,
    all_ready: bool,
    forced: bool,
    expected: Decision,
) -> None:
    assert decide(probed, built, incomplete, all_ready, forced) is expected


@dataclass
class Harness:
    app: object
    faults: FaultTransport
    manager: IndexManager
    watcher: Watcher
    events: list[StateChange] = field(default_factory=list)

    def serve(self, model: str, serve_as: str | None = None) -> None:
        """Switch the provider's model at once (as `POST /admin/model` does)."""
        from semsearch.proxy.models import AliasedModel

        loaded = load_model(model)
        self.app.state.proxy.model = AliasedModel(loaded, serve_as) if serve_as else loaded  # type: ignore[attr-defined]

    def states(self) -> dict[str, IndexState]:
        return {s.name: s.state for s in self.manager.statuses()}

    def spaces(self) -> set[str]:
        return {s.space.model for s in self.manager.statuses() if s.space is not None}

    def transitions(self, index: str) -> list[tuple[IndexState, IndexState]]:
        return [(e.previous, e.state) for e in self.events if e.index == index and e.reason != "startup"]


def texts_of(request: httpx.Request) -> set[str]:
    return set(json.loads(request.content)["input"])


EIP_TEXTS = {c.text for d in load_corpus("eip", FIXTURE_CORPORA / "eip", {}) for c in d.chunks}


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    app = create_app("hash-v1")
    faults = FaultTransport(httpx.ASGITransport(app=app))
    provider = EmbeddingProvider(
        "http://provider.test/v1",
        "hash-v1",
        transport=faults,
        batch_size=4,
        concurrency=1,  # batches in order, so progress can be observed batch by batch
        max_retries=0,
        backoff_base=0.001,
        backoff_cap=0.002,
    )
    sources = [
        IndexSource("runbooks", "markdown", tuple(load_corpus("markdown", FIXTURE_CORPORA / "markdown", {}))),
        IndexSource("eips", "eip", tuple(load_corpus("eip", FIXTURE_CORPORA / "eip", {}))),
    ]
    manager = IndexManager(sources, provider)
    watcher = Watcher(manager, WatcherTiming(interval=3600, jitter=0, backoff_base=0.001, backoff_cap=0.002))
    manager.attach(waker=watcher)
    h = Harness(app, faults, manager, watcher)
    manager.bus.add_listener(h.events.append)
    yield h
    await watcher.stop()
    await provider.aclose()


async def built(h: Harness) -> Harness:
    assert await h.watcher.tick() is Outcome.SETTLED
    h.events.clear()
    return h


async def test_first_tick_builds_every_index_and_records_the_space(harness: Harness) -> None:
    assert await harness.watcher.tick() is Outcome.SETTLED
    assert harness.states() == {"runbooks": READY, "eips": READY}
    assert harness.manager.built_space is not None and harness.manager.built_space.model == "hash-v1"
    for name in ("runbooks", "eips"):
        assert harness.transitions(name) == [(PARKED, REBUILDING), (REBUILDING, READY)]
        assert harness.manager.status(name).generation == 1


async def test_no_change_costs_one_probe_of_each_kind_and_changes_nothing(harness: Harness) -> None:
    h = await built(harness)
    before = h.faults.count
    assert await h.watcher.tick() is Outcome.SETTLED
    assert h.faults.count == before + 2  # the probe as a document and as a query, both as known
    assert h.events == []


async def test_a_model_change_parks_everything_before_rebuilding_anything(harness: Harness) -> None:
    h = await built(harness)
    h.serve("hash-v2")
    assert await h.watcher.tick() is Outcome.SETTLED
    assert h.states() == {"runbooks": READY, "eips": READY}
    assert h.spaces() == {"hash-v2"}
    assert h.manager.built_space is not None and h.manager.built_space.model == "hash-v2"
    for name in ("runbooks", "eips"):
        assert h.transitions(name) == [(READY, PARKED), (PARKED, REBUILDING), (REBUILDING, READY)]
        assert h.manager.status(name).generation == 2
    last_park = max(e.sequence for e in h.events if e.state is PARKED)
    first_rebuild = min(e.sequence for e in h.events if e.state is REBUILDING)
    assert last_park < first_rebuild
    assert "hash-v1/384 -> hash-v2/384" in next(e.reason for e in h.events if e.state is PARKED)


async def test_a_model_swapped_behind_the_same_name_is_caught_by_the_fingerprint(harness: Harness) -> None:
    h = await built(harness)
    old = h.manager.built_space
    h.serve("hash-v2", serve_as="hash-v1")
    assert await h.watcher.tick() is Outcome.SETTLED
    assert "same name, different fingerprint" in next(e.reason for e in h.events if e.state is PARKED)
    assert h.manager.built_space is not None and not h.manager.built_space.same_as(old)
    assert all(s.space == h.manager.built_space for s in h.manager.statuses())


async def test_an_unreachable_provider_leaves_states_alone(harness: Harness) -> None:
    h = await built(harness)
    space = h.manager.built_space
    h.faults.every = raise_(httpx.ConnectError)
    assert await h.watcher.tick() is Outcome.FAILED
    assert h.states() == {"runbooks": READY, "eips": READY}
    assert h.manager.built_space == space
    assert h.events == []


async def test_a_partial_failure_reparks_every_index_and_the_next_tick_completes(harness: Harness) -> None:
    h = await built(harness)
    h.serve("hash-v2")
    failing = True
    h.faults.when = lambda request: status(500) if failing and texts_of(request) & EIP_TEXTS else None
    assert await h.watcher.tick() is Outcome.FAILED
    assert h.states() == {"runbooks": PARKED, "eips": PARKED}  # runbooks rebuilt fine, then re-parked
    assert "HTTP 500" in h.manager.status("eips").last_error
    assert h.manager.built_space is not None and h.manager.built_space.model == "hash-v1"
    assert h.watcher.incomplete
    assert h.transitions("runbooks") == [
        (READY, PARKED),
        (PARKED, REBUILDING),
        (REBUILDING, READY),
        (READY, PARKED),
    ]
    failing = False
    assert await h.watcher.tick() is Outcome.SETTLED
    assert h.states() == {"runbooks": READY, "eips": READY}
    assert h.spaces() == {"hash-v2"} and h.manager.built_space.model == "hash-v2"
    assert not h.watcher.incomplete and not h.manager.status("eips").last_error


async def test_an_unexpected_error_in_one_rebuild_reparks_and_never_leaves_it_rebuilding(
    harness: Harness,
) -> None:
    h = await built(harness)
    h.serve("hash-v2")
    broken = True

    def explode(request: httpx.Request) -> httpx.Response | None:
        if broken and texts_of(request) & EIP_TEXTS:
            raise RuntimeError("a bug below the builder")
        return None

    h.faults.when = explode
    assert await h.watcher.tick() is Outcome.FAILED
    assert h.states() == {"runbooks": PARKED, "eips": PARKED}
    assert "unexpectedly: RuntimeError: a bug below the builder" in h.manager.status("eips").last_error
    assert h.transitions("eips") == [(READY, PARKED), (PARKED, REBUILDING), (REBUILDING, PARKED)]
    broken = False
    assert await h.watcher.tick() is Outcome.SETTLED
    assert h.states() == {"runbooks": READY, "eips": READY} and h.spaces() == {"hash-v2"}


async def test_reverting_to_the_old_model_before_the_retry_ends_consistent(harness: Harness) -> None:
    h = await built(harness)
    h.serve("hash-v2")
    failing = True
    h.faults.when = lambda request: status(500) if failing and texts_of(request) & EIP_TEXTS else None
    assert await h.watcher.tick() is Outcome.FAILED
    h.serve("hash-v1")
    failing = False
    assert await h.watcher.tick() is Outcome.SETTLED
    assert h.states() == {"runbooks": READY, "eips": READY}
    assert h.spaces() == {"hash-v1"}
    assert all(s.space == h.manager.built_space for s in h.manager.statuses())


async def test_a_space_change_mid_rebuild_abandons_it_and_starts_over(harness: Harness) -> None:
    h = await built(harness)
    h.serve("hash-v2")

    def switch_on_first_eip_batch(request: httpx.Request) -> None:
        if texts_of(request) & EIP_TEXTS:
            h.serve("hash-v3")  # the provider moves while eips is being rebuilt
            h.faults.when = None

    h.faults.when = switch_on_first_eip_batch
    assert await h.watcher.tick() is Outcome.RESTART
    assert h.states() == {"runbooks": PARKED, "eips": PARKED}
    assert h.manager.built_space is not None and h.manager.built_space.model == "hash-v1"
    assert await h.watcher.tick() is Outcome.SETTLED
    assert h.spaces() == {"hash-v3"} and h.manager.built_space.model == "hash-v3"


async def test_answers_that_keep_contradicting_the_probe_are_retried_with_backoff(harness: Harness) -> None:
    h = await built(harness)
    h.serve("hash-v2")

    def another_model_answers_batches(request: httpx.Request) -> Any:
        texts = json.loads(request.content)["input"]
        if texts == [PROBE_TEXT]:
            return None  # the probe reaches hash-v2, every build batch a backend serving hash-v3
        vectors = hash_embed(texts, "hash-v3")
        data = [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)]
        body = {"object": "list", "data": data, "model": "hash-v2"}
        return lambda request: httpx.Response(200, json=body, request=request)

    h.faults.when = another_model_answers_batches
    h.watcher.timing = WatcherTiming(interval=3600, jitter=0, backoff_base=3600, backoff_cap=3600)
    backoff = asyncio.get_running_loop().create_future()

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage() == "watcher_backoff" and not backoff.done():
                backoff.set_result(getattr(record, "semsearch_fields", {}))

    handler = Catch()
    logging.getLogger("semsearch.lifecycle.watcher").addHandler(handler)
    try:
        h.watcher.start()
        fields = await asyncio.wait_for(backoff, 20)
    finally:
        logging.getLogger("semsearch.lifecycle.watcher").removeHandler(handler)
    # Retried at once twice, then the next abandoned reindex waits like any failure.
    assert fields["restarts"] == FREE_RESTARTS + 1 and fields["seconds"] >= 1800
    assert h.watcher.ticks == 1 + FREE_RESTARTS + 1  # the first build, then three abandoned
    assert h.states() == {"runbooks": PARKED, "eips": PARKED}


async def test_a_requested_reindex_swaps_in_while_the_index_keeps_serving(harness: Harness) -> None:
    h = await built(harness)
    h.manager.request_rebuild(["eips"], "operator")
    assert await h.watcher.tick() is Outcome.SETTLED
    assert h.transitions("eips") == [(READY, READY)]
    assert h.transitions("runbooks") == []
    assert h.manager.status("eips").generation == 2
    assert h.manager.status("runbooks").generation == 1


async def test_a_failed_requested_reindex_keeps_the_old_index_serving_and_retries(harness: Harness) -> None:
    h = await built(harness)
    h.faults.when = lambda request: status(500) if texts_of(request) & EIP_TEXTS else None
    h.manager.request_rebuild(["eips"], "operator")
    assert await h.watcher.tick() is Outcome.FAILED
    eips = h.manager.status("eips")
    assert (eips.state, eips.generation) == (READY, 1) and "HTTP 500" in eips.last_error
    assert "eips" in h.manager.forced
    h.faults.when = None
    assert await h.watcher.tick() is Outcome.SETTLED
    assert h.manager.status("eips").generation == 2


async def test_the_watcher_survives_unexpected_errors(harness: Harness) -> None:
    def explode(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("a bug somewhere below the watcher")

    harness.faults.rules = {1: explode, 2: explode}
    harness.watcher.start()
    await wait_all_ready(harness.manager, timeout=20)
    assert harness.watcher.errors == 2


async def test_the_watcher_outlasts_more_failures_than_a_float_exponent_holds(harness: Harness) -> None:
    """2.0 ** 1024 overflows: a provider away for hours once ended the loop with an OverflowError."""
    h = await built(harness)
    h.faults.every = raise_(httpx.ConnectError)
    h.watcher.timing = WatcherTiming(interval=3600, jitter=0, backoff_base=1e-6, backoff_cap=1e-6)
    many = asyncio.get_running_loop().create_future()

    class Count(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            fields = getattr(record, "semsearch_fields", {})
            if record.getMessage() == "watcher_backoff" and fields["failures"] > 1100 and not many.done():
                many.set_result(None)

    handler = Count()
    logging.getLogger("semsearch.lifecycle.watcher").addHandler(handler)
    try:
        h.watcher.start()
        await asyncio.wait_for(many, 120)
    finally:
        logging.getLogger("semsearch.lifecycle.watcher").removeHandler(handler)
    h.faults.every = None
    h.serve("hash-v2")
    h.manager.wake("test: the provider is back, serving another model")
    await wait_for(h.manager, lambda: h.spaces() == {"hash-v2"} and h.manager.all_ready(), 20)
    assert h.watcher.errors == 0


async def test_wake_cuts_the_interval_short(harness: Harness) -> None:
    harness.watcher.start()
    await wait_all_ready(harness.manager, timeout=20)
    harness.serve("hash-v2")
    harness.manager.wake("test")  # the interval is an hour: only the wake-up can start this
    await wait_for(
        harness.manager, lambda: harness.spaces() == {"hash-v2"} and harness.manager.all_ready(), 20
    )


def test_fixture_paths_exist() -> None:
    assert Path(FIXTURE_CORPORA / "eip").is_dir() and EIP_TEXTS


async def test_rebuild_progress_is_visible_while_rebuilding(harness: Harness) -> None:
    seen: list[tuple[int, int]] = []

    def record(request: httpx.Request) -> None:
        status_now = harness.manager.status("eips")
        if texts_of(request) & EIP_TEXTS and status_now.progress is not None:
            assert status_now.state is REBUILDING
            seen.append((status_now.progress.done, status_now.progress.total))

    harness.faults.when = record
    assert await harness.watcher.tick() is Outcome.SETTLED
    total = sum(len(d.chunks) for d in harness.manager.slots["eips"].documents)
    assert seen[0] == (0, total)
    assert [done for done, _ in seen] == sorted({done for done, _ in seen}) and len(seen) > 1
    assert harness.manager.status("eips").progress is None  # cleared once READY
