"""Shared machinery: the corpora, fresh proxies, server configs, timed server runs, memory readings."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.report import ROOT
from semsearch.app import RunningApp, running
from semsearch.config import Config, parse_config
from semsearch.embeddings import EmbeddingProvider
from semsearch.proxy.launcher import ProxyProcess, start_proxy

CORPORA = ROOT.parent / "shared" / "corpora"
WARM_UP_TEXT = "warm-up: one short request so the first timed batch does not pay for lazy start-up"


def corpora_missing(*folders: str) -> str | None:
    """Why a benchmark over ``CORPORA/<folder>`` must skip, or None when every folder is there."""
    absent = [name for name in folders if not (CORPORA / name).is_dir()]
    if not absent:
        return None
    return (
        f"**Skipped:** the real corpora are absent (looked for {', '.join(absent)} under "
        f"`{CORPORA}`). Place the shared corpora next to the repository and run `make bench` again."
    )


# -- memory (Linux /proc; None elsewhere) -------------------------------------------------------
def proc_kib(key: str, pid: int | str = "self") -> int | None:
    """A ``/proc/<pid>/status`` figure in KiB: VmRSS (now) or VmHWM (peak since the last reset)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak_rss() -> bool:
    """Reset this process's VmHWM to its current RSS (Linux >= 4.0), so a later peak is a phase's own."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def lifetime_peak_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


@dataclass
class Memory:
    before: int | None = None  # RSS just before the server starts
    peak: int | None = None  # VmHWM from the start until settled (None if it could not be reset)
    settled: int | None = None  # RSS once every index is READY and the watcher settled
    stopped: int | None = None  # RSS after the server stopped
    proxy_peak: int | None = None  # the provider process's own peak


# -- CPU (Linux /proc; zeros elsewhere) ---------------------------------------------------------
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _machine_busy_seconds() -> float:
    """CPU seconds every process on the machine has spent busy since boot (all cores summed)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / _TICK  # guest time is already counted in user


def _process_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime


def _self_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class CpuUse:
    """CPU seconds spent during a measurement: by this process (client or in-process server), by the
    provider process, and by every other process on the machine (others' load skews wall times)."""

    bench: float = 0.0
    proxy: float = 0.0
    others: float = 0.0


class CpuMeter:
    def __init__(self, proxy_pid: int) -> None:
        self.pid = proxy_pid
        self._start = (_machine_busy_seconds(), _self_seconds(), _process_seconds(proxy_pid))

    def read(self) -> CpuUse:
        machine, bench, proxy = (
            now - then
            for now, then in zip(
                (_machine_busy_seconds(), _self_seconds(), _process_seconds(self.pid)),
                self._start,
                strict=True,
            )
        )
        return CpuUse(bench, proxy, max(machine - bench - proxy, 0.0))


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


# -- server events ------------------------------------------------------------------------------
class EventLog(logging.Handler):
    """Collects the server's structured events (name, perf_counter time, fields) while installed."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.events: list[tuple[str, float, dict[str, Any]]] = []
        self.started = time.perf_counter()  # reset by whoever times a run
        self._logger = logging.getLogger("semsearch")
        self._level = self._logger.level

    def emit(self, record: logging.LogRecord) -> None:
        self.events.append(
            (record.getMessage(), time.perf_counter(), getattr(record, "semsearch_fields", {}))
        )

    def __enter__(self) -> EventLog:
        self._logger.addHandler(self)
        self._logger.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc: object) -> None:
        self._logger.removeHandler(self)
        self._logger.setLevel(self._level)

    def first(self, name: str) -> tuple[float, dict[str, Any]] | None:
        return next(((t, f) for n, t, f in self.events if n == name), None)


# -- proxies and providers ----------------------------------------------------------------------
@contextlib.asynccontextmanager
async def fresh_proxy(model: str, startup_timeout: float = 60) -> AsyncIterator[ProxyProcess]:
    """A new ``semsearch proxy`` process (no state left by an earlier measurement), warmed up once."""
    async with start_proxy(model=model, startup_timeout=startup_timeout) as proxy:
        provider = EmbeddingProvider(proxy.url, model)
        try:
            await provider.embed_documents([WARM_UP_TEXT])
        finally:
            await provider.aclose()
        yield proxy


@dataclass
class ProviderRun:
    seconds: float
    requests: int
    vectors: np.ndarray
    cpu: CpuUse


async def provider_best_case(
    proxy: ProxyProcess, model: str, texts: Sequence[str], batch_size: int, concurrency: int
) -> ProviderRun:
    """Every text sent straight to the provider by the server's own client: no server, no cache."""
    provider = EmbeddingProvider(proxy.url, model, batch_size=batch_size, concurrency=concurrency)
    try:
        meter = CpuMeter(proxy.pid)
        started = time.perf_counter()
        result = await provider.embed_documents(texts)
        seconds = time.perf_counter() - started
        cpu = meter.read()
    finally:
        await provider.aclose()
    return ProviderRun(seconds, provider.calls, result.vectors, cpu)


# -- the server ----------------------------------------------------------------------------------
def server_config(
    url: str, model: str, corpus: Path, cache: Path, batch_size: int, concurrency: int
) -> Config:
    """One ``eip`` index over ``corpus``; the watcher's interval is long so only the first tick runs."""
    raw = {
        "server": {"listen": "127.0.0.1:0", "grace_seconds": 1.0},
        "embeddings": {"url": url, "model": model, "batch_size": batch_size, "concurrency": concurrency},
        "watcher": {"interval_seconds": 3600.0},
        "cache": {"path": str(cache)},
        "index": [{"name": "eips", "kind": "eip", "path": str(corpus)}],
    }
    return parse_config(raw, ROOT, env={})


@dataclass
class ServerRun:
    entered: float  # seconds from start: `running()` returned (corpora loaded, gRPC server up)
    ready: float  # every index READY
    settled: float  # watcher.settled set (built space recorded, cache pruned)
    requests: int  # embedding requests counted at the proxy meanwhile
    inputs: int  # texts embedded at the proxy meanwhile
    cache_hits: int
    memory: Memory
    cpu: CpuUse
    events: EventLog = field(repr=False)

    def since_start(self, event_name: str) -> float | None:
        found = self.events.first(event_name)
        return None if found is None else found[0] - self.events.started

    def fields(self, event_name: str) -> dict[str, Any]:
        found = self.events.first(event_name)
        return {} if found is None else found[1]


async def _until_ready(app: RunningApp, timeout: float) -> None:
    with app.manager.bus.subscribe(app.manager.statuses) as updates:
        async with asyncio.timeout(timeout):
            async for _ in updates:
                if app.manager.all_ready():
                    return
    raise RuntimeError("the event bus closed before every index was READY")


async def timed_server(config: Config, proxy: ProxyProcess, timeout: float) -> ServerRun:
    """Start the whole server in-process and time it until every index is READY and settled."""
    counters = await proxy.health()
    memory = Memory(before=proc_kib("VmRSS"))
    peak_known = reset_peak_rss()
    meter = CpuMeter(proxy.pid)
    with EventLog() as events:
        started = events.started = time.perf_counter()
        async with running(config) as app:
            entered = time.perf_counter() - started
            await _until_ready(app, timeout)
            ready = time.perf_counter() - started
            await asyncio.wait_for(app.watcher.settled.wait(), timeout)
            settled = time.perf_counter() - started
            cpu = meter.read()
            memory.peak = proc_kib("VmHWM") if peak_known else None
            memory.settled = proc_kib("VmRSS")
            memory.proxy_peak = proc_kib("VmHWM", proxy.pid)
            hits = app.manager.cache.hits if app.manager.cache is not None else 0
    memory.stopped = proc_kib("VmRSS")
    after = await proxy.health()
    return ServerRun(
        entered,
        ready,
        settled,
        after["embedding_requests"] - counters["embedding_requests"],
        after["embedded_inputs"] - counters["embedded_inputs"],
        hits,
        memory,
        cpu,
        events,
    )
