"""Detection latency: from a model switch at the provider to the first refused query and to READY.

An in-process server over a synthetic 10k-chunk corpus (hash models through a real proxy) is
searched back to back by one client with queries it has never seen, so every query reaches the
provider (with the probe text along) and none is answered from the query cache. The watcher's
interval is an hour: whatever is detected here is detected by the queries themselves. Each
switch is to a model never seen before, so its rebuild embeds every chunk.
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import grpc

from bench import support, synthetic
from bench.report import ROOT, Section, table
from bench.search import serving
from semsearch.api.v1 import search_pb2, search_pb2_grpc
from semsearch.app import RunningApp
from semsearch.config import Config, parse_config
from semsearch.lifecycle import IndexState

TITLE = "Detection latency: a model switch, the first refused query, all READY"
CHUNKS = 10_000
INDEX = "synthetic-10k"
# (model switched to, name it is served as: None = its own name)
SWITCHES: tuple[tuple[str, str | None], ...] = (
    ("hash-v2", None),
    ("hash-v3", "hash-v2"),
    ("hash-v4", "hash-v2"),
)
TIMEOUT = 300.0
STEADY_ANSWERS = 20  # answered queries before each switch: the client is in full swing


@dataclass
class Switch:
    previous: str
    model: str
    served_as: str
    acknowledged: float  # switch → the proxy's admin endpoint answered (the new model serves)
    refused: float  # switch → first refused query answered (seconds)
    refusal: str  # its status code and ErrorInfo reason
    ready: float  # switch → every index READY in the new space
    answered_again: float  # switch → first answered query after READY
    refused_count: int
    answered_during: int  # queries answered between the switch and READY (all before the refusal)


class Querier:
    """One client searching back to back with fresh queries; records each answer's time and outcome."""

    def __init__(self, address: str) -> None:
        self.channel = grpc.aio.insecure_channel(address)
        self.stub = search_pb2_grpc.SearchServiceStub(self.channel)
        self.outcomes: list[tuple[float, str]] = []  # (answered at, "OK" or "CODE/REASON")
        self.answered = asyncio.Condition()
        self._words = synthetic.queries(1000, seed=99)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        for n in itertools.count():
            query = f"{self._words[n % len(self._words)]} {n}"  # never seen: not in the query cache
            try:
                await self.stub.Search(search_pb2.SearchRequest(query=query, indexes=[INDEX]), timeout=30)
                outcome = "OK"
            except grpc.aio.AioRpcError as exc:
                outcome = f"{exc.code().name}/{_reason(exc)}"
            async with self.answered:
                self.outcomes.append((time.perf_counter(), outcome))
                self.answered.notify_all()

    async def until(self, count: int, outcome: str | None = None, after: float = 0.0) -> float:
        """Wait for the ``count``-th answer after ``after`` (of ``outcome`` when given); its time."""
        async with self.answered:
            while True:
                times = [t for t, o in self.outcomes if t > after and (outcome is None or o == outcome)]
                if len(times) >= count:
                    return times[count - 1]
                await self.answered.wait()

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self.channel.close()


def _reason(exc: grpc.aio.AioRpcError) -> str:
    from google.rpc import error_details_pb2, status_pb2

    for key, value in exc.trailing_metadata() or ():
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                    info = error_details_pb2.ErrorInfo()
                    detail.Unpack(info)
                    return str(info.reason)
    return "?"


def _config(url: str, corpus: Path, cache: Path) -> Config:
    raw = {
        "server": {"listen": "127.0.0.1:0", "grace_seconds": 1.0},
        "embeddings": {"url": url, "model": "hash-v1"},
        "watcher": {"interval_seconds": 3600.0},
        "cache": {"path": str(cache)},
        "index": [{"name": INDEX, "kind": "markdown", "path": str(corpus)}],
    }
    return parse_config(raw, ROOT, env={})


async def run() -> Section:
    switches: list[Switch] = []
    with tempfile.TemporaryDirectory(prefix="semsearch-bench-detect-") as tmp_name:
        tmp = Path(tmp_name)
        await asyncio.to_thread(synthetic.write_corpus, tmp / "corpus", CHUNKS)
        async with (
            support.fresh_proxy("hash-v1") as proxy,
            serving(_config(proxy.url, tmp / "corpus", tmp / "cache.sqlite")) as (app, _),
        ):
            querier = Querier(app.server.address)
            try:
                previous = "hash-v1"
                for model, served_as in SWITCHES:
                    await querier.until(STEADY_ANSWERS, "OK", after=time.perf_counter())
                    generation = app.manager.slots[INDEX].generation
                    switched = time.perf_counter()
                    await proxy.switch_model(model, serve_as=served_as)
                    acknowledged = time.perf_counter() - switched
                    ready = await _ready_after(app, generation)
                    again = await querier.until(1, "OK", after=ready)
                    during = [(t, o) for t, o in querier.outcomes if switched < t <= ready]
                    refused, first = next(((t, o) for t, o in during if o != "OK"), (ready, "none"))
                    switches.append(
                        Switch(
                            previous,
                            model,
                            served_as or model,
                            acknowledged,
                            refused - switched,
                            first,
                            ready - switched,
                            again - switched,
                            sum(o != "OK" for _, o in during),
                            sum(o == "OK" for _, o in during),
                        )
                    )
                    previous = model
            finally:
                await querier.close()
    return Section(TITLE, _body(switches))


async def _ready_after(app: RunningApp, generation: int) -> float:
    manager = app.manager
    slot = manager.slots[INDEX]
    with manager.bus.subscribe(manager.statuses) as updates:
        async with asyncio.timeout(TIMEOUT):
            async for _ in updates:
                if slot.state is IndexState.READY and slot.generation > generation:
                    return time.perf_counter()
    raise RuntimeError("the event bus closed before the rebuild finished")


def _body(switches: list[Switch]) -> str:
    intro = (
        f"An in-process server over a synthetic {CHUNKS // 1000}k-chunk corpus (hash models through a "
        "real `semsearch proxy`) is searched back to back by one client with queries it has never "
        "seen, so each one reaches the provider with the probe text along and none comes from the "
        "query cache. The watcher's interval is an hour: what is detected here, the queries detect. "
        "Each switch is to a model not seen before, so its rebuild embeds every chunk. The first "
        "switch renames the model (the echo differs); the others swap the model behind an unchanged "
        "name, which only the probe sent with each query reveals. Times run from the moment the "
        "proxy's admin endpoint is asked to switch."
    )
    rows = [
        (
            f"`{s.previous}` → `{s.model}`"
            + (f" served as `{s.served_as}`" if s.served_as != s.model else ""),
            f"{s.acknowledged * 1000:.1f} ms",
            f"{s.refused * 1000:.1f} ms",
            f"`{s.refusal}`",
            f"{s.ready:.2f} s",
            f"{s.answered_again:.2f} s",
            f"{s.answered_during} / {s.refused_count}",
        )
        for s in switches
    ]
    headers = [
        "switch",
        "→ proxy switched",
        "→ first refused query",
        "refused with",
        "→ all READY",
        "→ answered again",
        "answered / refused meanwhile",
    ]
    return f"{intro}\n\n{table(headers, rows)}"
