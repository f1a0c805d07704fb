"""Peak memory of a model migration (MigrateModel) against steady state and a park-and-rebuild.

A migration keeps every current index serving while it builds the next generation in the target
space, so two generations are alive at once until the swap: that is its price in memory. The server
runs inside this process (its memory is the process's), over the whole EIP corpus, against a real
``semsearch proxy --models hash-v1,hash-v2``; after the migration, the same server heals from a model
swapped behind the current name (park, then rebuild), which holds one generation at a time.

Two measures: the process's RSS (what the machine pays, but the allocator keeps freed memory for
reuse, so a later step's peak hides in an earlier one's), and the live Python and numpy memory
traced by ``tracemalloc`` (what the server holds, freed memory excluded).
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bench import support
from bench.report import Section, mib, secs, table
from semsearch.app import RunningApp, running
from semsearch.embeddings import EmbeddingProvider
from semsearch.lifecycle import MigrationPhase
from semsearch.proxy.launcher import start_proxy

TITLE = "Model migration: peak memory"
SOURCE, TARGET, SWAPPED_IN = "hash-v1", "hash-v2", "hash-v3"
BATCH_SIZE = 64
CONCURRENCY = 4
TIMEOUT = 600.0


@dataclass
class Memory:
    rss: int | None  # KiB: VmRSS, or VmHWM for a peak (None: not available here)
    live: int  # KiB traced by tracemalloc: current, or the peak


@dataclass
class Phase:
    seconds: float
    peak: Memory
    after: Memory  # once it ended, after a garbage collection


@dataclass
class Result:
    chunks: int
    dimensions: int
    steady: Memory
    migration: Phase
    rebuild: Phase
    proxy_peak: int | None


async def run() -> Section:
    missing = support.corpora_missing("eips")
    if missing is not None:
        return Section(TITLE, missing)
    with tempfile.TemporaryDirectory(prefix="semsearch-bench-") as tmp:
        tracemalloc.start()
        try:
            result = await _measure(support.CORPORA / "eips", Path(tmp))
        finally:
            tracemalloc.stop()
    return Section(TITLE, _body(result))


async def _until(app: RunningApp, condition: Callable[[], bool]) -> None:
    with app.manager.bus.subscribe(app.manager.statuses) as updates:
        async with asyncio.timeout(TIMEOUT):
            async for _ in updates:
                if condition():
                    return
    raise RuntimeError("the event bus closed before the condition held")


def _now() -> Memory:
    gc.collect()
    return Memory(support.proc_kib("VmRSS"), tracemalloc.get_traced_memory()[0] // 1024)


async def _phase(app: RunningApp, work: Callable[[], Awaitable[None]]) -> Phase:
    rss_known = support.reset_peak_rss()
    tracemalloc.reset_peak()
    started = time.perf_counter()
    await work()
    seconds = time.perf_counter() - started
    peak = Memory(
        support.proc_kib("VmHWM") if rss_known else None, tracemalloc.get_traced_memory()[1] // 1024
    )
    # One more watcher tick (a probe round trip) before "after": subscribers such as the health
    # service drain meanwhile the queued events whose snapshots still reference the old generation.
    await app.watcher.tick()
    return Phase(seconds, peak, _now())


async def _measure(corpus: Path, tmp: Path) -> Result:
    async with start_proxy(models=[SOURCE, TARGET]) as proxy:
        warm = EmbeddingProvider(proxy.url, SOURCE)
        try:
            await warm.embed_documents([support.WARM_UP_TEXT])
        finally:
            await warm.aclose()
        config = support.server_config(
            proxy.url, SOURCE, corpus, tmp / "cache.sqlite", BATCH_SIZE, CONCURRENCY
        )
        config = dataclasses.replace(
            config, embeddings=dataclasses.replace(config.embeddings, regime="client-chosen")
        )
        async with running(config) as app:
            manager = app.manager
            await _until(app, manager.all_ready)
            await asyncio.wait_for(app.watcher.settled.wait(), TIMEOUT)
            steady = _now()
            chunks = sum(status.chunk_count for status in manager.statuses())
            assert manager.migration is not None and manager.built_space is not None
            dimensions = manager.built_space.dimensions
            migrator = manager.migration

            async def migrate() -> None:
                await migrator.start(TARGET, "benchmark")
                await _until(app, lambda: migrator.status is not None and not migrator.status.running)
                assert migrator.status is not None and migrator.status.phase is MigrationPhase.SUCCEEDED

            migration = await _phase(app, migrate)

            async def park_and_rebuild() -> None:
                settled_before = manager.built_space
                assert settled_before is not None

                def rebuilt() -> bool:
                    statuses = manager.statuses()
                    return all(s.space is not None and not s.space.same_as(settled_before) for s in statuses)

                await proxy.switch_model(SWAPPED_IN, serve_as=TARGET)  # same name, another model
                manager.wake("benchmark: the model behind the name changed")
                await _until(app, lambda: manager.all_ready() and rebuilt())
                await asyncio.wait_for(app.watcher.settled.wait(), TIMEOUT)  # the new space recorded

            rebuild = await _phase(app, park_and_rebuild)
            proxy_peak = support.proc_kib("VmHWM", proxy.pid)
    return Result(chunks, dimensions, steady, migration, rebuild, proxy_peak)


def _change(value: int | None, base: int | None) -> str:
    if value is None or base is None:
        return ""
    return f"{(value - base) / 1024:+.0f} MiB"


def _row(what: str, value: Memory, base: Memory | None) -> tuple[str, str, str, str, str]:
    return (
        what,
        mib(value.live),
        _change(value.live, base.live) if base else "",
        mib(value.rss),
        _change(value.rss, base.rss) if base else "",
    )


def _body(r: Result) -> str:
    matrix = r.chunks * r.dimensions * 4 // 1024
    rows = [
        _row(f"steady state: every index READY in `{SOURCE}`", r.steady, None),
        _row(f"**peak during the migration** to `{TARGET}`", r.migration.peak, r.steady),
        _row("after the swap (old generation released)", r.migration.after, r.steady),
        _row("peak during a park-and-rebuild of the same index", r.rebuild.peak, r.steady),
        _row("after the park-and-rebuild", r.rebuild.after, r.steady),
    ]
    timings = table(
        ["step", "wall time"],
        [
            (f"migration `{SOURCE}` → `{TARGET}`: probe, shadow build, swap", secs(r.migration.seconds)),
            ("park-and-rebuild after a model swapped behind the name", secs(r.rebuild.seconds)),
        ],
    )
    return (
        f'Whole EIP corpus ({r.chunks:,} chunks, one `eip` index), `[embeddings] regime = "client-chosen"`, '
        f"against a real `semsearch proxy --models {SOURCE},{TARGET}`; batch size {BATCH_SIZE}, concurrency "
        f"{CONCURRENCY}, the durable cache in a temporary folder. The server runs inside the benchmark "
        "process. *Live* is the Python and numpy memory `tracemalloc` traces (freed memory excluded): what "
        "the server holds. *RSS* is the process's resident memory, a peak being its VmHWM reset when the "
        "step starts; the allocator keeps freed memory for reuse, so RSS hardly falls after a step and a "
        "later step's peak can hide in an earlier one's. Changes are against the steady state.\n\n"
        + table(["what", "live", "change", "RSS", "change"], rows)
        + "\n\n"
        + table(
            ["for scale", ""],
            [
                (f"one generation's vector matrix ({r.chunks:,} × {r.dimensions} float32)", mib(matrix)),
                ("proxy process, lifetime peak (both models loaded)", mib(r.proxy_peak)),
            ],
        )
        + "\n\n"
        + timings
        + "\n\n_Wall times are slowed by `tracemalloc`, which traces every allocation._"
        + "\n\n"
        + _reading(r)
    )


def _reading(r: Result) -> str:
    migration, rebuild = r.migration.peak.live / 1024, r.rebuild.peak.live / 1024
    return (
        "**Reading.** Until the swap a migration holds two generations of every index, the one serving "
        "and the one being built, besides the build's own working memory: its live peak was "
        f"{migration - rebuild:+.0f} MiB above the park-and-rebuild's ({migration:.0f} against "
        f"{rebuild:.0f} MiB), which drops each index before building it again and serves nothing "
        "meanwhile. That is the price of never being unavailable. The swap releases the old generation at "
        f"once: live memory after it is {r.migration.after.live / 1024:.0f} MiB, against "
        f"{r.steady.live / 1024:.0f} MiB before. RSS tells less: the allocator keeps what one build freed "
        "for the next, so the RSS peaks differ by what earlier steps left behind as much as by what each "
        "step holds."
    )
