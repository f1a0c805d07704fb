"""The swap storm: dozens of model switches under search load and watch streams, never a mixed result.

The proxy switches among hash models (and behind unchanged names) at random moments, some of them
in the middle of a rebuild, some back to back, while searchers query without pause and subscribers
watch. Every hit of every answer is re-scored by the oracle in the space the answer names.

A swap behind an unchanged name cannot be seen in the echoed name: every build batch and every query
carries the probe text, whose vector proves which model answered. So even those swaps open no
window — the oracle counts a hit scored with a query from another model under the same name apart
("same-name window") only to show that there are none.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import pytest

from semsearch.api.v1 import admin_pb2, search_pb2, types_pb2
from semsearch.embeddings import PROBE_TEXT
from semsearch.lifecycle import IndexManager, IndexState
from semsearch.proxy.hashing import hash_embed
from semsearch.proxy.launcher import ProxyProcess
from tests.support.corpora import FIXTURE_INDEXES, fixture_chunks
from tests.support.oracle import HashSpaces, Watch, vector
from tests.support.server import Service, fixture_config
from tests.support.status import failure
from tests.support.waiting import wait_for

SEED = 20240606
MODELS = [f"hash-v{n}" for n in range(1, 6)]
SWAPS = 60
SEARCHERS = 8
REFUSALS = {"INDEX_NOT_READY", "EMBEDDING_SPACE_CHANGED"}  # the provider itself never fails here
NAMES = [ix["name"] for ix in FIXTURE_INDEXES]
READY, PARKED, REBUILDING = (
    types_pb2.INDEX_STATE_READY,
    types_pb2.INDEX_STATE_PARKED,
    types_pb2.INDEX_STATE_REBUILDING,
)
FIXED_QUERIES = ["restart the validator", "blob fee market", "fork choice head", "disk usage query"]
VOCABULARY = sorted(
    {w for chunk in fixture_chunks().values() for w in re.findall(r"[a-z]{4,}", chunk.text.lower())}
)


class SearchLoad:
    """Searchers in a loop, each answer classified by the oracle; failures are kept, not raised."""

    def __init__(self, service: Service, spaces: HashSpaces, workers: int) -> None:
        self.service = service
        self.spaces = spaces
        self.ok = 0
        self.refused: Counter[str] = Counter()
        self.partial: Counter[str] = Counter()
        self.hits: Counter[str] = Counter()
        self.problems: list[str] = []
        self._stop = asyncio.Event()
        self._tasks = [asyncio.create_task(self._work(random.Random(SEED + n))) for n in range(workers)]

    @staticmethod
    def _request(rng: random.Random) -> search_pb2.SearchRequest:
        # Half repeat (query-cache hits), half are new (each one asks the provider: the query-time guard).
        if rng.random() < 0.5:
            query = rng.choice(FIXED_QUERIES)
        else:
            query = " ".join(rng.sample(VOCABULARY, rng.randint(2, 4)))
        indexes = rng.choice([[], [], [rng.choice(NAMES)], rng.sample(NAMES, 2)])
        return search_pb2.SearchRequest(query=query, indexes=indexes, top_k=rng.randint(3, 10))

    async def _work(self, rng: random.Random) -> None:
        while not self._stop.is_set():
            request = self._request(rng)
            try:
                response = await self.service.search.Search(request, timeout=20)
            except grpc.aio.AioRpcError as exc:
                got = failure(exc)
                reason = got.error_info.reason if got.error_info else None
                if (
                    got.code != grpc.StatusCode.UNAVAILABLE
                    or reason not in REFUSALS
                    or got.retry_info is None
                ):
                    self.problems.append(f"{request.query!r}: {got.code} {reason} {got.message}")
                self.refused[str(reason)] += 1
                await asyncio.sleep(0.01)  # a client backing off a little, leaving the rebuild room
                continue
            self.ok += 1
            self.hits.update(self.spaces.classify(request.query, response))
            for missing in response.unavailable_indexes:
                if missing.reason not in REFUSALS:
                    self.problems.append(f"{request.query!r}: index {missing.index} {missing.reason}")
                self.partial[missing.reason] += 1

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)


class Storm:
    """Switches the proxy ``SWAPS`` times at random moments; knows what it serves, under which name."""

    def __init__(self, proxy: ProxyProcess, service: Service, spaces: HashSpaces, rng: random.Random) -> None:
        self.proxy, self.manager, self.spaces, self.rng = proxy, service.app.manager, spaces, rng
        self.settled = service.app.watcher.settled
        self.real = self.name = "hash-v1"
        self.kinds: Counter[str] = Counter()

    async def run(self, on_halfway: Callable[[], None], swaps: int = SWAPS) -> None:
        for n in range(swaps):
            if n == swaps // 2:
                on_halfway()
            await self._swap()
            await self._pause()

    async def _swap(self) -> None:
        real = self.rng.choice([m for m in MODELS if m != self.real])
        name = self.name if self.rng.random() < 0.25 else real
        if self._rebuilding():
            self.kinds["during a rebuild"] += 1
        if name == self.name:
            self.kinds["behind the same name"] += 1
        await self.proxy.switch_model(real, serve_as=None if name == real else name)
        self.real, self.name = real, name
        self.spaces.serve(real, name)

    async def _pause(self) -> None:
        roll = self.rng.random()
        if roll < 0.2:
            self.kinds["back to back"] += 1
        elif roll < 0.5:
            self.kinds["waited for a rebuild to start"] += 1
            with contextlib.suppress(TimeoutError):  # a swap the watcher has not seen yet: move on
                await wait_for(self.manager, self._rebuilding, timeout=2)
        elif roll < 0.65:
            self.kinds["waited for the server to settle"] += 1
            await settle(self.manager, self.settled, self.real, self.name)
        else:
            await asyncio.sleep(self.rng.uniform(0.0, 0.3))  # a random interval, not a synchronisation

    def _rebuilding(self) -> bool:
        return any(s.state is IndexState.REBUILDING for s in self.manager.slots.values())


def in_space(manager: IndexManager, real: str, name: str) -> bool:
    """Every index READY, built in the hash model ``real`` served as ``name``."""
    fingerprint = vector(real, PROBE_TEXT, "document")
    return all(
        s.state is IndexState.READY
        and s.space is not None
        and s.space.model == name
        and np.allclose(s.space.fingerprint, fingerprint, atol=1e-6)
        for s in manager.slots.values()
    )


async def settle(manager: IndexManager, settled: asyncio.Event, real: str, name: str) -> None:
    await wait_for(manager, lambda: in_space(manager, real, name), timeout=60)
    await asyncio.wait_for(settled.wait(), 60)


@pytest.mark.slow
async def test_a_storm_of_model_swaps_never_mixes_spaces(
    hash_proxy: ProxyProcess, make_service: Any, tmp_path: Path
) -> None:
    started = time.perf_counter()
    config = fixture_config(
        hash_proxy.url, watcher={"interval_seconds": 0.1}, cache={"path": str(tmp_path / "cache.sqlite")}
    )
    service: Service = await make_service(config)
    manager = service.app.manager
    spaces = HashSpaces(MODELS)
    spaces.serve("hash-v1", "hash-v1")
    watches = [
        Watch(service.admin),
        Watch(service.admin, ["eips", "specs"]),
        Watch(service.admin, ["runbooks"]),
    ]
    load = SearchLoad(service, spaces, SEARCHERS)
    storm = Storm(hash_proxy, service, spaces, random.Random(SEED))
    await storm.run(on_halfway=lambda: watches.append(Watch(service.admin)))  # one joins mid-storm

    await settle(manager, service.app.watcher.settled, storm.real, storm.name)
    await load.stop()
    final = await service.admin.GetEmbeddingSpace(admin_pb2.GetEmbeddingSpaceRequest())
    assert final.built_space.model == storm.name and spaces.real_model(final.built_space) == storm.real
    # Every vector of every index is the final model's vector for its chunk: nothing left over.
    for slot in manager.slots.values():
        assert slot.index is not None
        expected = hash_embed([c.text for c in slot.index.chunks], storm.real)
        assert np.allclose(slot.index.matrix, expected, atol=1e-6), f"{slot.name} holds foreign vectors"
    # After the storm every answer is consistent, none is in a swap's window any more.
    after = HashSpaces(MODELS)
    after.serve(storm.real, storm.name)
    for query in FIXED_QUERIES:
        response = await service.search.Search(search_pb2.SearchRequest(query=query, top_k=10))
        assert after.classify(query, response) == Counter(consistent=len(response.hits)) and response.hits

    listed = (await service.admin.ListIndexes(admin_pb2.ListIndexesRequest())).indexes
    assert all(ix.state == READY for ix in listed)
    for watch in watches:
        with contextlib.suppress(TimeoutError):  # the assertion below shows what is missing
            await watch.until(lambda w=watch: w.view == w.expected(listed), timeout=30)
        await watch.close()

    changes = watches[0].changes
    rebuilt = sum((c.previous_state, c.state) == (REBUILDING, READY) for c in changes)
    cut = sum((c.previous_state, c.state) == (REBUILDING, PARKED) for c in changes)
    print(
        f"\nswap storm, {time.perf_counter() - started:.1f} s: {SWAPS} swaps ({dict(storm.kinds)}); "
        f"{load.ok} searches answered, {sum(load.refused.values())} refused {dict(load.refused)}, "
        f"{sum(load.partial.values())} indexes left out of an answer {dict(load.partial)}; "
        f"hits: {load.hits['consistent']} consistent, {load.hits['alias-window']} in a same-name window, "
        f"mixed={load.hits['mixed']}; index rebuilds: {rebuilt} finished, {cut} cut short; "
        f"watch streams (events, snapshots): {[(w.events, w.snapshots) for w in watches]}"
    )
    assert load.problems == []
    assert load.hits["mixed"] == 0 and load.hits["alias-window"] == 0
    assert load.ok > SWAPS and load.hits["consistent"] > 0
    for watch in watches:
        assert watch.problems == []
        assert watch.snapshots >= 1 and watch.view == watch.expected(listed)


class SwitchMidBuild(httpx.AsyncBaseTransport):
    """Forwards every request to the provider; once armed, switches the proxy's model right after
    the next build batch is answered, so the rest of that build is embedded by another model."""

    def __init__(self, proxy: ProxyProcess) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.proxy = proxy
        self.armed: tuple[str, str] | None = None  # (model, served as)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        body = json.loads(request.content)
        if self.armed and body.get("input_type") == "document" and body["input"] != [PROBE_TEXT]:
            model, serve_as = self.armed
            self.armed = None
            await self.proxy.switch_model(model, serve_as=serve_as)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_a_swap_behind_the_name_during_a_build_leaves_no_foreign_vector(
    hash_proxy: ProxyProcess, make_service: Any, tmp_path: Path
) -> None:
    transport = SwitchMidBuild(hash_proxy)
    config = fixture_config(
        hash_proxy.url, cache={"path": str(tmp_path / "cache.sqlite")}, batch_size=2, concurrency=1
    )
    service: Service = await make_service(config, transport=transport)
    manager, settled = service.app.manager, service.app.watcher.settled
    await hash_proxy.switch_model("hash-v2")
    transport.armed = ("hash-v3", "hash-v2")  # after the first batch of the build in hash-v2
    manager.wake("test: model switched")
    await settle(manager, settled, "hash-v3", "hash-v2")
    await hash_proxy.switch_model("hash-v2")  # the real hash-v2 again, under the same name
    manager.wake("test: model switched")
    await settle(manager, settled, "hash-v2", "hash-v2")
    for slot in manager.slots.values():
        assert slot.index is not None
        expected = hash_embed([c.text for c in slot.index.chunks], "hash-v2")
        foreign = int((~np.isclose(slot.index.matrix, expected, atol=1e-6).all(axis=1)).sum())
        assert foreign == 0, f"{slot.name}: {foreign} of {len(expected)} vectors come from another model"
