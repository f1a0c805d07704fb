"""Search throughput and latency over gRPC, against in-process numpy and faiss in the same run.

Three indexes, each served alone by an in-process server: synthetic 10k and 100k chunks and the
real EIP corpus, all through the ``hash-v1`` model (384 dimensions). The chunk vectors are computed
in this process by the same function the proxy serves and stored in the server's cache, so the
server starts warm with no embedding call (embedding 100k texts through the proxy would take a
minute and measures nothing searched). The query cache is filled by one pass over the queries
first, so every measured search finds its query embedding cached. The load comes from
``python -m bench.load``, a separate process. Tables: ``bench.search_report``.
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import os
import pstats
import random
import resource
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from bench import baselines, support, synthetic
from bench.report import ROOT, Section
from semsearch.api.v1 import search_pb2, search_pb2_grpc
from semsearch.app import RunningApp, running
from semsearch.config import Config, parse_config
from semsearch.corpus import load_corpus
from semsearch.embeddings import EmbeddingCache, EmbeddingProvider, probe_space
from semsearch.index import SearchCoalescer, VectorIndex
from semsearch.proxy.hashing import hash_embed

TITLE = "Search: throughput and latency over gRPC, against in-process baselines"
MODEL = "hash-v1"
CLIENTS = (1, 8, 32)
QUERIES = 256
TOP_K = 10
LOAD_SECONDS = 6.0
LOAD_WARMUP = 1.5
PROFILE_CLIENTS = int(os.environ.get("BENCH_PROFILE_CLIENTS", "8"))
START_TIMEOUT = 300.0


@dataclass(frozen=True)
class Scenario:
    name: str
    index: str
    kind: str
    corpus: Path
    queries: list[str]
    note: str


@dataclass
class LoadRun:
    clients: int
    result: dict[str, Any]
    server_cpu: float  # this process (the in-process server) during the run
    others_cpu: float  # every other process but the load generator
    batch_size: float | None = None  # searches per coalesced batch, on average, during the run
    # In-process search_many in batches of 32 on the served index, measured just before this run
    # with the server idle: on a shared machine, the reference taken under the same conditions.
    reference_qps: float | None = None
    reference_cpu_ms: float | None = None  # … and the CPU it spent per search
    # … and in batches of as many searches as there are clients: the largest batch they can form
    same_batch_qps: float | None = None


@dataclass
class ScenarioResult:
    scenario: Scenario
    documents: int
    chunks: int
    warm_start: float  # entering running() → READY, from the cache
    start_requests: int  # embedding requests at the proxy during that start
    load_requests: int  # … and during every load run (0: every query embedding was cached)
    loads: list[LoadRun]
    baselines: list[baselines.Baseline]
    floor: LoadRun  # Health/Check from one client: the gRPC round trip under any Search
    profile: list[tuple[str, float, float, int]] = field(default_factory=list)


async def run() -> Section:
    from bench.search_report import body

    load_average = support.load_average()
    results: list[ScenarioResult] = []
    skipped: list[str] = []
    with tempfile.TemporaryDirectory(prefix="semsearch-bench-search-") as tmp_name:
        tmp = Path(tmp_name)
        scenarios = await _scenarios(tmp, skipped)
        async with support.fresh_proxy(MODEL) as proxy:
            for scenario in scenarios:
                print(f"bench: search {scenario.name} ...", file=sys.stderr, flush=True)
                results.append(await _measure(scenario, proxy, tmp / scenario.index))
    return Section(TITLE, body(results, skipped, load_average))


async def _scenarios(tmp: Path, skipped: list[str]) -> list[Scenario]:
    found = []
    for chunks in (10_000, 100_000):
        folder = tmp / f"synthetic-{chunks // 1000}k-corpus"
        files = await asyncio.to_thread(synthetic.write_corpus, folder, chunks)
        found.append(
            Scenario(
                f"synthetic {chunks // 1000}k × 384",
                f"synthetic-{chunks // 1000}k",
                "markdown",
                folder,
                synthetic.queries(QUERIES),
                f"{files:,} generated markdown files of {synthetic.SECTIONS_PER_DOCUMENT} sections, "
                f"made-up words, Zipf-like frequencies; queries of {synthetic.WORDS_PER_QUERY[0]}-"
                f"{synthetic.WORDS_PER_QUERY[1]} words of the same vocabulary",
            )
        )
    missing = support.corpora_missing("eips")
    if missing is not None:
        skipped.append(f"EIP corpus: {missing}")
        return found
    corpus = support.CORPORA / "eips"
    documents = await asyncio.to_thread(load_corpus, "eip", corpus, {})
    titles = sorted({d.title for d in documents if d.title})
    random.Random(7).shuffle(titles)
    found.append(
        Scenario(
            "EIP corpus × 384",
            "eips",
            "eip",
            corpus,
            titles[:QUERIES],
            f"`../shared/corpora/eips` (kind `eip`); queries: {min(QUERIES, len(titles))} EIP titles",
        )
    )
    return found


def _config(scenario: Scenario, url: str, cache: Path) -> Config:
    raw = {
        "server": {"listen": "127.0.0.1:0", "grace_seconds": 1.0},
        "embeddings": {"url": url, "model": MODEL},
        "watcher": {"interval_seconds": 3600.0},
        "cache": {"path": str(cache)},
        "index": [{"name": scenario.index, "kind": scenario.kind, "path": str(scenario.corpus)}],
    }
    return parse_config(raw, ROOT, env={})


async def _prefill_cache(scenario: Scenario, url: str, cache_path: Path) -> tuple[int, int]:
    """Store every chunk's hash-v1 vector in the cache the server will open; (documents, chunks)."""
    documents = await asyncio.to_thread(load_corpus, scenario.kind, scenario.corpus, {})
    texts = [chunk.text for document in documents for chunk in document.chunks]
    provider = EmbeddingProvider(url, MODEL)
    try:
        space = await probe_space(provider)  # the very space the server will probe
    finally:
        await provider.aclose()
    vectors = await asyncio.to_thread(hash_embed, texts, MODEL)

    def store() -> None:
        cache = EmbeddingCache(cache_path)
        try:
            cache.store(space, "document", texts, vectors)
        finally:
            cache.close()

    await asyncio.to_thread(store)
    return len(documents), len(texts)


@asynccontextmanager
async def serving(config: Config) -> AsyncIterator[tuple[RunningApp, float]]:
    started = time.perf_counter()
    async with running(config) as app:
        with app.manager.bus.subscribe(app.manager.statuses) as updates:
            async with asyncio.timeout(START_TIMEOUT):
                async for _ in updates:
                    if app.manager.all_ready():
                        break
        if not app.manager.all_ready():
            raise RuntimeError("the event bus closed before the index was READY")
        yield app, time.perf_counter() - started


async def _fill_query_cache(address: str, scenario: Scenario) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = search_pb2_grpc.SearchServiceStub(channel)
        for query in scenario.queries:
            request = search_pb2.SearchRequest(
                query=query, top_k=TOP_K, all_chunks=True, mode=search_pb2.SEARCH_MODE_DENSE
            )
            await stub.Search(request)


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _load(
    address: str,
    queries_file: Path,
    clients: int,
    coalescer: SearchCoalescer | None = None,
    rpc: str = "search",
) -> LoadRun:
    machine, server = support._machine_busy_seconds(), _self_cpu()
    batches, searches = (coalescer.batches, coalescer.searches) if coalescer else (0, 0)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.load",
        "--target",
        address,
        "--queries",
        str(queries_file),
        "--clients",
        str(clients),
        "--seconds",
        str(LOAD_SECONDS),
        "--warmup",
        str(LOAD_WARMUP),
        "--top-k",
        str(TOP_K),
        "--mode",
        "dense",
        "--rpc",
        rpc,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"bench.load exited with {process.returncode}")
    result = json.loads(out)
    server = _self_cpu() - server
    others = support._machine_busy_seconds() - machine - server - result["cpu_seconds"]
    batch_size = None
    if coalescer is not None and coalescer.batches > batches:
        batch_size = (coalescer.searches - searches) / (coalescer.batches - batches)
    return LoadRun(clients, result, server, max(others, 0.0), batch_size)


async def _profiled_load(address: str, queries_file: Path) -> list[tuple[str, float, float, int]]:
    """The event loop's own Python time under load, by function (worker threads are not profiled)."""
    profile = cProfile.Profile()
    profile.enable()
    try:
        await _load(address, queries_file, PROFILE_CLIENTS)
    finally:
        profile.disable()
    stats = pstats.Stats(profile)
    rows = []
    for (path, line, name), (_cc, calls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = "/".join(Path(path).parts[-2:]) if path != "~" else "builtin"
        rows.append((f"{where}:{line} {name}", tottime, cumtime, calls))
    rows.sort(key=lambda row: -row[1])
    return rows[: int(os.environ.get("BENCH_PROFILE_ROWS", "12"))]


async def _measure(scenario: Scenario, proxy: Any, folder: Path) -> ScenarioResult:
    await asyncio.to_thread(folder.mkdir)
    cache = folder / "cache.sqlite"
    documents, chunks = await _prefill_cache(scenario, proxy.url, cache)
    queries_file = folder / "queries.json"
    await asyncio.to_thread(queries_file.write_text, json.dumps(scenario.queries))
    before = await proxy.health()
    async with serving(_config(scenario, proxy.url, cache)) as (app, warm_start):
        started = await proxy.health()
        address = app.server.address
        await _fill_query_cache(address, scenario)
        filled = await proxy.health()
        coalescer = app.server.searcher.coalescer
        served = app.manager.slots[scenario.index].index
        assert isinstance(served, VectorIndex)
        vectors = await asyncio.to_thread(hash_embed, scenario.queries, MODEL)
        loads = []
        for clients in CLIENTS:
            reference = await asyncio.to_thread(baselines.batched_qps, served, vectors, TOP_K)
            same = reference
            if clients != baselines.BATCH:
                same = await asyncio.to_thread(baselines.batched_qps, served, vectors, TOP_K, clients)
            run = await _load(address, queries_file, clients, coalescer)
            run.reference_qps, run.reference_cpu_ms = reference
            run.same_batch_qps = same[0]
            loads.append(run)
        floor = await _load(address, queries_file, 1, rpc="health")
        profiled = os.environ.get("BENCH_PROFILE_ALL") or "100k" in scenario.index
        profile = await _profiled_load(address, queries_file) if profiled else []
        after = await proxy.health()
        index = app.manager.slots[scenario.index].index
        assert isinstance(index, VectorIndex)
    # Baselines run with the server stopped, on the very matrix it served.
    measured = await asyncio.to_thread(baselines.measure, index, vectors, TOP_K)
    return ScenarioResult(
        scenario,
        documents,
        chunks,
        warm_start,
        started["embedding_requests"] - before["embedding_requests"],
        after["embedding_requests"] - filled["embedding_requests"],
        loads,
        measured,
        floor,
        profile,
    )
