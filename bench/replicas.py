"""Replicas on PostgreSQL: how long a new generation takes to reach every replica, what loading a
generation costs, and how fast a replica starts warm from the database, each beside the local
backend (one process, memory and the SQLite cache) measured in the same run.

Three ``semsearch serve`` processes share one PostgreSQL (the embedded one, durable as in
production) and one ``semsearch proxy`` with the ``hash-v1`` model, so what is measured is
replication, not embedding. The first replica takes the indexer lease and builds the EIP corpus;
the other two load it from the database. Each round asks the indexer for a Reindex of the index
and times, from the commit that made the new generation current (``current_generations.
changed_at``), until each replica logs that it serves it. "Edit" rounds first append a paragraph
to one EIP, so the followers must build their BM25 index again (an unchanged text reuses it).
The tables are written by ``bench.replicas_report``; ``python -m bench replicas`` runs only this.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from bench import support
from bench.replica_connections import ConnectionSampler, DatabaseFigures, database_figures, swap_times
from bench.replica_processes import Event, Replica, logged_at, start_replica, write_config
from bench.replica_stages import Footprint, Stages, footprint, time_stages
from bench.report import ROOT, Section
from semsearch.api.v1 import admin_pb2, admin_pb2_grpc
from semsearch.app import RunningApp, running
from semsearch.config import parse_config
from semsearch.lifecycle import IndexState

TITLE = "Replicas on PostgreSQL: propagation, generation loads, warm starts"
MODEL = "hash-v1"
INDEX = "eips"
REPLICAS = 3
POOL_SIZE = 4  # the default [store] pool_size
POLL_SECONDS = 1.0  # the default [store] poll_seconds
PLAN = ["reindex"] * 5 + ["edit"] * 2  # the rounds, in order
EDITED = "eip-1559.md"
WARM_REPEATS = 3
STAGE_REPEATS = 3
IDLE_SECONDS = 10.0  # connections opened by idle replicas are counted over this long
TIMEOUT = 600.0


@dataclass
class Round:
    kind: str
    generation: int
    requested: float  # unix times: the Reindex was sent to the indexer
    committed: float  # the indexer's make_current committed (current_generations.changed_at)
    logged: float  # the READY event was written to the shared log (events.recorded_at)
    indexer: float  # the indexer logged that it serves the new generation
    followers: list[float]  # each follower logged that it serves it
    loads: list[Event]  # each follower's generation_loaded (chunks, seconds)
    lexical: list[float]  # each follower's BM25 build within the load (0 when reused)

    @property
    def everywhere(self) -> float:
        """From the swap commit until the last replica serves the new generation."""
        return max(self.indexer, *self.followers) - self.committed


@dataclass
class LocalRound:
    kind: str
    seconds: float  # Reindex asked → the new generation serves


@dataclass
class WarmStart:
    serving: float  # start → every index served
    corpus_loaded: float  # start → the corpus read from disk (the same work for both backends)
    load_seconds: float | None = None  # a replica's generation_loaded: read back + BM25 + swap
    lexical_seconds: float | None = None  # the BM25 build within it


@dataclass
class Result:
    documents: int = 0
    chunks: int = 0
    load_average: str = ""  # at the start of the run
    load_average_end: str = ""
    local_cold: float = 0.0
    local_rounds: list[LocalRound] = field(default_factory=list)
    local_warm: list[WarmStart] = field(default_factory=list)
    indexer_cold: float = 0.0  # the indexer's first build, index_built seconds
    joins: list[tuple[Event, float]] = field(default_factory=list)  # followers' first loads, BM25 part
    rounds: list[Round] = field(default_factory=list)
    replica_warm: list[WarmStart] = field(default_factory=list)
    memory_kib: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)  # RSS, peak
    connections: int = 0  # most connections of the replicas seen at once during the rounds
    opened_per_second: float = 0.0  # sessions opened by the idle replicas, per second, all together
    database: DatabaseFigures | None = None
    stages: Stages | None = None
    footprint: Footprint | None = None


async def run() -> Section:
    from bench.replicas_report import body

    missing = support.corpora_missing("eips") or _postgres_missing()
    if missing is not None:
        return Section(TITLE, missing)
    result = Result(load_average=support.load_average())
    with tempfile.TemporaryDirectory(prefix="semsearch-bench-replicas-") as tmp:
        work = Path(tmp)
        corpus = work / "eips"  # a copy: the edit rounds change one of its files
        await asyncio.to_thread(shutil.copytree, support.CORPORA / "eips", corpus)
        async with support.fresh_proxy(MODEL) as proxy:
            await _local(result, proxy, corpus, work / "local.sqlite")
            await _postgres(result, proxy, corpus, work)
        dimensions = result.stages.dimensions if result.stages is not None else 384
        result.footprint = await asyncio.to_thread(footprint, corpus, "eip", dimensions)
    result.load_average_end = support.load_average()
    return Section(TITLE, body(result))


def _postgres_missing() -> str | None:
    """Why the embedded PostgreSQL cannot run here, or None."""
    from semsearch.store.embedded import UNPRIVILEGED_USER, EmbeddedPostgresError, binaries
    from semsearch.store.embedded_process import account_named

    try:
        binaries()
    except EmbeddedPostgresError as exc:
        return f"**Skipped:** no PostgreSQL to run the replicas on ({exc})."
    if os.geteuid() == 0 and account_named(UNPRIVILEGED_USER) is None:
        return (
            f"**Skipped:** as root, PostgreSQL must run as {UNPRIVILEGED_USER!r}, which does not exist here."
        )
    return None


def _raw(url: str, corpus: Path, cache: str, store: dict[str, Any] | None = None) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "server": {"listen": "127.0.0.1:0", "grace_seconds": 1.0},
        "embeddings": {"url": url, "model": MODEL, "batch_size": 64, "concurrency": 4},
        "watcher": {"interval_seconds": 3600.0},  # only Reindex rounds build
        "cache": {"path": cache},
        "index": [{"name": INDEX, "kind": "eip", "path": str(corpus)}],
    }
    if store is not None:
        raw["store"] = store
    return raw


def _edit(corpus: Path, label: str) -> None:
    """Append a paragraph to one EIP: its last chunks change, and so does the BM25 index."""
    with (corpus / EDITED).open("a") as file:
        file.write(f"\n\nBenchmark edit {label}: a paragraph appended so that this proposal changes.\n")


async def _until(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - polled at 5 ms: the cost of the wait is what is timed
            await asyncio.sleep(0.005)


def _serving_everything(app: RunningApp) -> bool:
    return all(s.state is IndexState.READY and s.index is not None for s in app.manager.slots.values())


# -- the local backend ---------------------------------------------------------------------------
async def _local(result: Result, proxy: Any, corpus: Path, cache: Path) -> None:
    config = parse_config(_raw(proxy.url, corpus, str(cache)), ROOT, env={})
    started = time.perf_counter()
    async with running(config) as app:
        await _until(lambda: _serving_everything(app))
        await asyncio.wait_for(app.watcher.settled.wait(), TIMEOUT)
        result.local_cold = time.perf_counter() - started
        slot = app.manager.slots[INDEX]
        result.documents, result.chunks = len(slot.documents), slot.status().chunk_count
        for number, kind in enumerate(PLAN, 1):
            if kind == "edit":
                await asyncio.to_thread(_edit, corpus, f"local {number}")
            wanted = slot.generation + 1
            began = time.perf_counter()
            app.manager.request_rebuild([INDEX], f"bench round {number}")
            await _until(lambda: slot.generation >= wanted and slot.state is IndexState.READY)  # noqa: B023
            result.local_rounds.append(LocalRound(kind, time.perf_counter() - began))
    for _ in range(WARM_REPEATS):
        run = await support.timed_server(config, proxy, TIMEOUT)
        corpus_at = run.since_start("corpus_loaded")
        result.local_warm.append(WarmStart(run.ready, corpus_at or 0.0))


# -- replicas on PostgreSQL ----------------------------------------------------------------------
async def _postgres(result: Result, proxy: Any, corpus: Path, work: Path) -> None:
    from semsearch.store.embedded import EmbeddedPostgres

    # Under /tmp itself: as root the server runs as nobody, who cannot enter the work folder.
    folder = Path(tempfile.mkdtemp(prefix="semsearch-bench-postgres-"))
    database = EmbeddedPostgres(folder)
    try:
        dsn = await asyncio.to_thread(database.start)
        store = {"backend": "postgres", "dsn": dsn, "pool_size": POOL_SIZE, "poll_seconds": POLL_SECONDS}
        raw = _raw(proxy.url, corpus, "", store)
        replicas: list[Replica] = []
        try:
            await _deploy(result, replicas, write_config(work / "replica.toml", raw))
            await _rounds(result, replicas, dsn, corpus)
            config = parse_config(raw, ROOT, env={})
            for _ in range(WARM_REPEATS):
                result.replica_warm.append(await _replica_warm_start(config))
            names = ["the indexer", *(f"follower {n}" for n in range(1, len(replicas)))]
            result.memory_kib = {
                name: (support.proc_kib("VmRSS", r.pid), support.proc_kib("VmHWM", r.pid))
                for name, r in zip(names, replicas, strict=True)
            }
            result.database = await asyncio.to_thread(database_figures, dsn, INDEX)
            generation = result.rounds[-1].generation if result.rounds else 1
            result.stages = await asyncio.to_thread(
                time_stages, dsn, INDEX, generation, work / "local.sqlite", STAGE_REPEATS
            )
        finally:
            for replica in replicas:
                await replica.stop()
    finally:
        await asyncio.to_thread(database.stop)
        shutil.rmtree(folder, ignore_errors=True)


def _is(name: str, **fields: Any) -> Callable[[Event], bool]:
    return lambda e: e.get("event") == name and all(e.get(k) == v for k, v in fields.items())


async def _deploy(result: Result, replicas: list[Replica], config: Path) -> None:
    """The first replica takes the lease and builds; the others join and load what it built."""
    replicas.append(await start_replica(config))
    indexer = replicas[0]
    await indexer.wait_event(_is("lease_acquired"), TIMEOUT)
    built = await indexer.wait_event(_is("index_built", index=INDEX), TIMEOUT)
    result.indexer_cold = float(built["seconds"])
    for _ in range(REPLICAS - 1):
        replicas.append(await start_replica(config))
    for follower in replicas[1:]:
        loaded = await follower.wait_event(_is("generation_loaded", index=INDEX), TIMEOUT)
        result.joins.append((loaded, _lexical_seconds(follower, loaded)))
    if any(r.named("lease_acquired") for r in replicas[1:]):
        raise RuntimeError("a replica other than the first took the indexer lease")


async def _rounds(result: Result, replicas: list[Replica], dsn: str, corpus: Path) -> None:
    indexer, followers = replicas[0], replicas[1:]
    generation = int(result.joins[0][0]["generation"])
    async with ConnectionSampler(dsn) as sampler, grpc.aio.insecure_channel(indexer.address) as channel:
        admin = admin_pb2_grpc.AdminServiceStub(channel)
        for number, kind in enumerate(PLAN, 1):
            if kind == "edit":
                await asyncio.to_thread(_edit, corpus, f"replicas {number}")
            generation += 1
            serving = _is("index_state_changed", index=INDEX, state="READY", generation=generation)
            requested = time.time()
            await admin.Reindex(admin_pb2.ReindexRequest(indexes=[INDEX], reason=f"bench round {number}"))
            served = [await r.wait_event(serving, TIMEOUT) for r in replicas]
            loads = [
                await f.wait_event(_is("generation_loaded", generation=generation), TIMEOUT)
                for f in followers
            ]
            committed, logged = await asyncio.to_thread(swap_times, dsn, INDEX, generation)
            result.rounds.append(
                Round(
                    kind,
                    generation,
                    requested,
                    committed,
                    logged,
                    logged_at(served[0]),
                    [logged_at(e) for e in served[1:]],
                    loads,
                    [_lexical_seconds(f, load) for f, load in zip(followers, loads, strict=True)],
                )
            )
        result.connections = sampler.most
        result.opened_per_second = await sampler.sessions_opened(IDLE_SECONDS)


def _lexical_seconds(replica: Replica, load: Event) -> float:
    """The BM25 build logged just before ``load`` within the same load (0 when it was reused)."""
    at = replica.events.index(load)
    for item in reversed(replica.events[:at]):
        if item.get("event") == "generation_loaded":
            return 0.0
        if item.get("event") == "lexical_index_built":
            return float(item["seconds"])
    return 0.0


async def _replica_warm_start(config: Any) -> WarmStart:
    """One more replica joins the running deployment, in this process: until it serves every index."""
    with support.EventLog() as events:
        started = events.started = time.perf_counter()
        async with running(config) as app:
            await _until(lambda: _serving_everything(app))
            serving = time.perf_counter() - started
    corpus = events.first("corpus_loaded")
    loaded = events.first("generation_loaded")
    lexical = events.first("lexical_index_built")
    return WarmStart(
        serving,
        corpus[0] - started if corpus else 0.0,
        float(loaded[1]["seconds"]) if loaded else None,
        float(lexical[1]["seconds"]) if lexical else None,
    )
