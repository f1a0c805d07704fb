"""The swap storm across three replicas on one database: searches round-robined over them never
mix spaces, and every replica streams the same log."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Sequence
from typing import Any

import pytest

from semsearch.api.v1 import search_pb2_grpc
from semsearch.proxy.launcher import ProxyProcess
from tests.e2e.test_swap_storm import MODELS, SEARCHERS, SEED, SearchLoad, Storm, in_space, settle
from tests.support.oracle import HashSpaces
from tests.support.replicas import indexer, replica_config, start_replicas, until
from tests.support.server import Service
from tests.support.streams import WatchStream

pytestmark = pytest.mark.slow

SWAPS = 24


class RoundRobin:
    """What the search load needs of a service: a search stub, a different replica each call."""

    def __init__(self, replicas: Sequence[Service]) -> None:
        self._stubs = itertools.cycle([r.search for r in replicas])

    @property
    def search(self) -> search_pb2_grpc.SearchServiceStub:
        return next(self._stubs)


async def test_a_storm_across_three_replicas_never_mixes_spaces(
    pg_dsn: str, hash_proxy: ProxyProcess, make_service: Any
) -> None:
    started = time.perf_counter()
    config = replica_config(hash_proxy.url, pg_dsn, watcher={"interval_seconds": 0.1})
    replicas = await start_replicas(make_service, config, 3)
    lead = indexer(replicas)
    spaces = HashSpaces(MODELS)
    spaces.serve("hash-v1", "hash-v1")
    streams = [WatchStream(r) for r in replicas]
    load = SearchLoad(RoundRobin(replicas), spaces, SEARCHERS)  # type: ignore[arg-type]
    storm = Storm(hash_proxy, lead, spaces, random.Random(SEED))
    await storm.run(on_halfway=lambda: None, swaps=SWAPS)

    await settle(lead.app.manager, lead.app.watcher.settled, storm.real, storm.name)
    await until(lambda: all(in_space(r.app.manager, storm.real, storm.name) for r in replicas), 60)
    await load.stop()
    for stream in streams:
        await stream.close()

    logs = [
        [(m.log_sequence, m.event.index, m.event.state, m.event.reason) for m in s.messages[1:]]
        for s in streams
    ]
    print(
        f"\nstorm across {len(replicas)} replicas, {time.perf_counter() - started:.1f} s: {SWAPS} swaps "
        f"({dict(storm.kinds)}); {load.ok} searches answered, {sum(load.refused.values())} refused "
        f"{dict(load.refused)}; hits: {load.hits['consistent']} consistent, "
        f"{load.hits['alias-window']} in a same-name window, mixed={load.hits['mixed']}; "
        f"events per stream: {[len(log) for log in logs]}"
    )
    assert load.problems == []
    assert load.hits["mixed"] == 0 and load.hits["alias-window"] == 0
    assert load.ok > SWAPS and load.hits["consistent"] > 0
    for log in logs:  # gap-free, and the same changes at the same positions on every replica
        positions = [position for position, *_ in log]
        assert positions == list(range(positions[0], positions[0] + len(positions)))
    common_start = max(log[0][0] for log in logs)
    common_end = min(log[-1][0] for log in logs)
    windows = [[entry for entry in log if common_start <= entry[0] <= common_end] for log in logs]
    assert windows[0] and all(window == windows[0] for window in windows)
