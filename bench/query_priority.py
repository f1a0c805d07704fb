"""Queries during a rebuild: how long a search's query embedding takes while the bundled e5-small
embeds a rebuild's batches, against the same queries on an idle provider, and what the queries cost
the rebuild.

Everything goes through the server's own provider client, shared by the build and the queries as in
the server: the build's batches pass its build gate, the queries do not. The provider is a fresh
``semsearch proxy`` with e5-small, which embeds a query beside the document slice in flight, on a
share of the cores, rather than after it.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bench import support
from bench.report import Section, ratio, secs, table
from semsearch.corpus import load_corpus
from semsearch.embeddings import EmbeddingProvider
from semsearch.proxy.launcher import ProxyProcess
from semsearch.proxy.turns import DOCUMENT_NICE

TITLE = "Queries during a rebuild: query-embedding latency with e5-small"
MODEL = "e5-small"
BATCH_SIZE = 32  # the shipped configuration's
CONCURRENCY = 4
CHUNKS = 64  # of the EIPs, in order: a rebuild of a minute or two on 2 cores
IDLE_QUERIES = 15  # before the rebuild alone, and again between it and the rebuild with queries
ROUNDS = 2
BATCH_TIMEOUT = 900.0  # no batch retried for being slow: a retry would embed it twice
QUERY_GAP_SECONDS = 0.25  # between one query's answer and the next: a steady trickle of searches
STARTUP_TIMEOUT = 240.0
QUERIES = [
    "how are blob transactions priced",
    "who can call selfdestruct after the merge",
    "what does the beacon block root precompile return",
    "account abstraction entry point",
    "withdrawal credentials for validators",
    "transient storage opcodes",
]


@dataclass
class Latencies:
    seconds: list[float]

    def percentile(self, p: float) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.seconds)

    @property
    def p99(self) -> float:
        return self.percentile(99)


@dataclass
class Rebuild:
    seconds: float
    cpu: support.CpuUse  # the provider's CPU seconds, and every other process's (the machine's load)


@dataclass
class Result:
    chunks: int
    idle: Latencies
    during: Latencies
    alone: list[Rebuild]
    with_queries: list[Rebuild]
    failed_queries: int
    build_limit: int  # the build gate's limit when the last rebuild with queries ended
    cuts: int

    @property
    def best_alone(self) -> Rebuild:
        return min(self.alone, key=lambda r: r.seconds)

    @property
    def best_with_queries(self) -> Rebuild:
        return min(self.with_queries, key=lambda r: r.seconds)


async def run() -> Section:
    missing = support.corpora_missing("eips")
    if missing is not None:
        return Section(TITLE, missing)
    load_average = support.load_average()
    documents = await asyncio.to_thread(load_corpus, "eip", support.CORPORA / "eips", {})
    texts = [chunk.text for document in documents for chunk in document.chunks][:CHUNKS]
    async with support.fresh_proxy(MODEL, STARTUP_TIMEOUT) as proxy:
        result = await _measure(proxy, texts)
    return Section(TITLE, _body(result, load_average))


def _provider(proxy: ProxyProcess) -> EmbeddingProvider:
    return EmbeddingProvider(
        proxy.url, MODEL, batch_size=BATCH_SIZE, concurrency=CONCURRENCY, batch_timeout=BATCH_TIMEOUT
    )


async def _query(provider: EmbeddingProvider, n: int, into: list[float]) -> bool:
    """One search's query embedding (it carries the probe, as the server's do); False if it failed."""
    started = time.perf_counter()
    try:
        await provider.embed_query(f"{QUERIES[n % len(QUERIES)]} ({n})", with_probe=True)
    except Exception:
        return False
    into.append(time.perf_counter() - started)
    return True


async def _measure(proxy: ProxyProcess, texts: Sequence[str]) -> Result:
    """ROUNDS of: idle queries, the rebuild alone, idle queries, the rebuild with queries. A shared
    machine's load comes and goes: the rounds spread it over both kinds of rebuild alike."""
    idle: list[float] = []
    during: list[float] = []
    alone: list[Rebuild] = []
    with_queries: list[Rebuild] = []
    failed = limit = cuts = 0
    n = 0
    for _ in range(ROUNDS):
        # A fresh client per rebuild, so its build gate starts where a server's would.
        provider = _provider(proxy)
        try:
            for _ in range(IDLE_QUERIES):
                await _query(provider, n, idle)
                n += 1
            meter, started = support.CpuMeter(proxy.pid), time.perf_counter()
            await provider.embed_documents(texts)
            alone.append(Rebuild(time.perf_counter() - started, meter.read()))
            for _ in range(IDLE_QUERIES):
                await _query(provider, n, idle)
                n += 1
        finally:
            await provider.aclose()
        provider = _provider(proxy)
        try:
            meter, started = support.CpuMeter(proxy.pid), time.perf_counter()
            build = asyncio.create_task(provider.embed_documents(texts))
            while not build.done():
                failed += not await _query(provider, n, during)
                n += 1
                await asyncio.wait([build], timeout=QUERY_GAP_SECONDS)
            await build
            with_queries.append(Rebuild(time.perf_counter() - started, meter.read()))
            limit, cuts = provider.builds.allowed, cuts + provider.builds.cuts
        finally:
            await provider.aclose()
    return Result(len(texts), Latencies(idle), Latencies(during), alone, with_queries, failed, limit, cuts)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _row(name: str, latencies: Latencies, idle: Latencies) -> tuple[object, ...]:
    return (
        name,
        len(latencies.seconds),
        _ms(latencies.p50),
        _ms(latencies.percentile(90)),
        _ms(latencies.p99),
        _ms(max(latencies.seconds)),
        ratio(latencies.p99, idle.p99),
    )


def _rebuild_row(
    name: str, runs: list[Rebuild], best: Rebuild, base: Rebuild, chunks: int
) -> tuple[object, ...]:
    return (
        name,
        " / ".join(secs(r.seconds) for r in runs),
        f"{chunks / best.seconds:.2f}",
        ratio(best.seconds, base.seconds),
        f"{best.cpu.proxy:.0f} s",
        ratio(best.cpu.proxy, base.cpu.proxy),
        f"{best.cpu.others:.0f} s",
    )


def _body(r: Result, load_average: str) -> str:
    latency = table(
        ["query embedding", "queries", "p50", "p90", "p99", "max", "p99 vs idle"],
        [_row("idle provider", r.idle, r.idle), _row("during a rebuild", r.during, r.idle)],
    )
    base = r.best_alone
    rebuild = table(
        ["rebuild", "each round", "chunks/s (best)", "vs alone", "provider CPU", "vs alone", "others' CPU"],
        [
            _rebuild_row("alone", r.alone, base, base, r.chunks),
            _rebuild_row("while queries are answered", r.with_queries, r.best_with_queries, base, r.chunks),
        ],
    )
    verdict = "meets" if r.during.p99 <= 2 * r.idle.p99 else "misses"
    return "\n\n".join(
        [
            f"{r.chunks} EIP chunks embedded by a fresh `semsearch proxy` with {MODEL} (batches of "
            f"{BATCH_SIZE}, {CONCURRENCY} in flight at most), through the server's provider client. "
            f"{ROUNDS} rounds of: {IDLE_QUERIES} idle queries, the rebuild alone, {IDLE_QUERIES} more "
            "idle queries, the rebuild with queries sent one after another "
            f"{QUERY_GAP_SECONDS:g} s apart. Every query carries the probe text, as a search's does.",
            latency,
            f"During a rebuild the query p99 is {ratio(r.during.p99, r.idle.p99)} the idle p99: it "
            f"{verdict} the target of at most 2×. {r.failed_queries} queries failed. A query waits "
            "neither for queued batches nor for the document slice in flight: the proxy embeds it "
            "at once, beside the slice, while the slices run on a thread of lower scheduling "
            f"priority (nice +{DOCUMENT_NICE}) that yields the cores to the query and takes them "
            "back when it is done; the CPU a query takes is what the rebuild pays below.",
            rebuild,
            "Times are the fastest of the rounds; CPU seconds are the provider process's, and every "
            "other process's on the machine during that rebuild (its load, which slows all figures). "
            f"The build gate cut the build's concurrency {r.cuts} times (slow queries) and ended at "
            f"{r.build_limit} batch{'es' if r.build_limit > 1 else ''} in flight. Load average at "
            f"the start: {load_average}, at the end: {support.load_average()}.",
        ]
    )
