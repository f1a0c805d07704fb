"""A reindex rebuilds every index together, smallest first, sharing the provider's concurrency.

The provider is the real proxy app in-process; faults and observations sit between it and the
client. Ticks are called directly, so nothing waits on a timer.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from semsearch.corpus import load_corpus
from semsearch.embeddings import EmbeddingProvider
from semsearch.lifecycle import IndexManager, IndexSource, IndexState, Watcher, WatcherTiming
from semsearch.lifecycle.watcher import Outcome, smallest_first
from semsearch.proxy.app import create_app
from tests.support.corpora import FIXTURE_CORPORA
from tests.support.faults import FaultTransport, Stall, is_build_batch

READY, PARKED, REBUILDING = IndexState.READY, IndexState.PARKED, IndexState.REBUILDING


def source(name: str, kind: str, folder: str) -> IndexSource:
    return IndexSource(name, kind, tuple(load_corpus(kind, FIXTURE_CORPORA / folder, {})))


# Configuration order puts the largest first: 14 chunks, then 13, then 7.
SOURCES = [source("specs", "spec", "spec"), source("runbooks", "markdown", "markdown")]
SOURCES.append(source("examples", "examples", "examples"))
TEXTS = {s.name: {chunk.text for document in s.documents for chunk in document.chunks} for s in SOURCES}


def index_of(request: httpx.Request) -> str:
    """Which index a build batch belongs to, from its texts (the probe rides along as the last)."""
    texts = set(json.loads(request.content)["input"][:-1])
    return next(name for name, known in TEXTS.items() if texts <= known)


@dataclass
class Harness:
    faults: FaultTransport
    manager: IndexManager
    watcher: Watcher


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    faults = FaultTransport(httpx.ASGITransport(app=create_app("hash-v1")))
    provider = EmbeddingProvider(
        "http://provider.test/v1", "hash-v1", transport=faults, batch_size=4, concurrency=1, max_retries=0
    )
    manager = IndexManager(SOURCES, provider)
    watcher = Watcher(manager, WatcherTiming(interval=3600, jitter=0, backoff_base=0.001, backoff_cap=0.002))
    manager.attach(waker=watcher)
    yield Harness(faults, manager, watcher)
    await watcher.stop()
    await provider.aclose()


def test_smallest_first_orders_by_chunk_count_and_keeps_ties_in_order() -> None:
    manager = IndexManager([*SOURCES, source("examples-again", "examples", "examples")], provider=None)  # type: ignore[arg-type]
    order = smallest_first(manager, list(manager.slots))
    assert order == ["examples", "examples-again", "runbooks", "specs"]


async def test_the_smallest_index_is_embedded_first_and_serves_while_the_others_rebuild(
    harness: Harness,
) -> None:
    batches: list[str] = []
    states_at_batch: list[dict[str, IndexState]] = []

    def observe(request: httpx.Request) -> None:
        if is_build_batch(request):
            batches.append(index_of(request))
            states_at_batch.append({s.name: s.state for s in harness.manager.statuses()})

    harness.faults.when = observe
    assert await harness.watcher.tick() is Outcome.SETTLED
    # One batch at a time (concurrency 1): every batch of the smallest index, then the next one's.
    assert batches == sorted(batches, key=["examples", "runbooks", "specs"].index)
    assert set(batches) == {"examples", "runbooks", "specs"}
    # Started together: the largest was already REBUILDING when the first batch went out...
    assert states_at_batch[0] == {"specs": REBUILDING, "runbooks": REBUILDING, "examples": REBUILDING}
    # ...and the smallest was serving before the largest sent its first batch.
    first_specs = batches.index("specs")
    assert states_at_batch[first_specs]["examples"] is READY
    assert states_at_batch[first_specs]["specs"] is REBUILDING
    assert all(s.state is READY for s in harness.manager.statuses())


async def test_stopping_the_watcher_mid_reindex_parks_every_rebuild(harness: Harness) -> None:
    stall = Stall()
    harness.faults.when = lambda request: stall if is_build_batch(request) else None
    harness.watcher.start()
    await stall.entered.wait()
    await harness.watcher.stop()
    for status in harness.manager.statuses():
        assert status.state is PARKED, status
        assert status.last_error == "rebuild cancelled: the watcher stopped"
