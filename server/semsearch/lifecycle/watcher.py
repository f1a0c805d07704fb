"""The watcher: one coroutine that keeps every index READY in the provider's current space.

Each tick probes the provider's space. When it differs from ``built_space`` (or the last reindex
was incomplete, or an index is not READY) it parks every index *before* rebuilding any, rebuilds
each from its retained sources, swaps each in as it succeeds, and advances ``built_space`` only
when every index rebuilt; any failure re-parks every index and is retried with capped backoff.

The rebuilds of a reindex run together, started smallest first (by chunk count, configuration
order among equals): they share the provider's build concurrency, whose gate admits the smallest
build's batches first, so a small index serves again long before a large one is done. A space
that moves under any of them abandons them all. Requested rebuilds of READY indexes (a refresh)
run one at a time, smallest first.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass

from semsearch.backoff import backoff_ceiling
from semsearch.embeddings import EmbeddingSpace, ProviderError, SpaceMoved, probe_space
from semsearch.lifecycle.manager import IndexManager
from semsearch.lifecycle.slot import IndexSlot
from semsearch.logs import event

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WatcherTiming:
    """Injectable so tests never sleep for real intervals."""

    interval: float = 30.0
    jitter: float = 0.1  # each wait is interval x (1 +- jitter), so replicas do not probe in lockstep
    backoff_base: float = 1.0
    backoff_cap: float = 60.0


FREE_RESTARTS = 2  # abandoned reindexes retried without waiting before the backoff applies


class Outcome(enum.Enum):
    SETTLED = "settled"  # every index READY in the provider's space
    FAILED = "failed"  # provider unreachable or a rebuild failed: back off
    RESTART = "restart"  # the space moved during a rebuild: start over at once


class Decision(enum.Enum):
    NOTHING = "nothing"
    REINDEX_ALL = "reindex_all"
    REFRESH = "refresh"  # requested rebuilds inside the same space


def decide(
    probed: EmbeddingSpace,
    built: EmbeddingSpace | None,
    incomplete: bool,
    all_ready: bool,
    forced: bool,
) -> Decision:
    """What a tick does after a successful probe (pure, so every branch is unit-tested)."""
    if built is None or not probed.same_as(built) or incomplete or not all_ready:
        return Decision.REINDEX_ALL
    return Decision.REFRESH if forced else Decision.NOTHING


def smallest_first(manager: IndexManager, names: Sequence[str]) -> list[str]:
    """``names`` by the chunk count of their latest sources, smallest first; ties keep their order."""
    return sorted(names, key=lambda name: len(manager.sources[name].chunks))


class Watcher:
    def __init__(self, manager: IndexManager, timing: WatcherTiming | None = None) -> None:
        self.manager = manager
        self.timing = timing or WatcherTiming()
        self.incomplete = False
        self.failures = 0  # consecutive failed ticks, drives the backoff
        self.restarts = 0  # consecutive ticks abandoned because the space moved
        self.errors = 0  # unexpected exceptions survived
        self.ticks = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Its own generator: the global one is shared with whatever else runs in the process.
        self._random = random.Random()
        # Set while every index is READY in the recorded space and no tick is working.
        self.settled = asyncio.Event()

    def start(self, announce: bool = True) -> None:
        """Run the watcher; ``announce`` publishes every index's state first (a fresh start)."""
        if announce:
            self.manager.announce()
        self._task = asyncio.create_task(self._run(), name="semsearch-watcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self, reason: str) -> None:
        if not self._wake.is_set():
            event(log, "watcher_woken", reason=reason)
        self._wake.set()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                outcome = await self.tick()
            except Exception as exc:  # the watcher never dies: log, count, back off, go on
                self.errors += 1
                event(
                    log,
                    "watcher_error",
                    level=logging.ERROR,
                    exc_info=True,
                    error=repr(exc),
                    errors=self.errors,
                )
                outcome = Outcome.FAILED
            self.failures = 0 if outcome is Outcome.SETTLED else self.failures + 1
            self.restarts = self.restarts + 1 if outcome is Outcome.RESTART else 0
            # A moved space is retried at once, but a provider whose answers keep contradicting its
            # probe (mixed backends behind a balancer) must not be hammered: then it backs off too.
            if outcome is not Outcome.RESTART or self.restarts > FREE_RESTARTS:
                delay = self._delay(outcome)
                if outcome is not Outcome.SETTLED:
                    event(
                        log,
                        "watcher_backoff",
                        level=logging.WARNING,
                        failures=self.failures,
                        restarts=self.restarts,
                        seconds=round(delay, 3),
                    )
                await self._sleep(delay)

    def _delay(self, outcome: Outcome) -> float:
        if outcome is Outcome.SETTLED:
            spread = self.timing.interval * self.timing.jitter
            return self.timing.interval + self._random.uniform(-spread, spread)
        ceiling = backoff_ceiling(self.timing.backoff_base, self.timing.backoff_cap, self.failures - 1)
        return self._random.uniform(ceiling / 2, ceiling)

    async def _sleep(self, seconds: float) -> None:
        """Wait ``seconds``, or less when woken."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), max(seconds, 0.0))

    async def _probe(self) -> EmbeddingSpace | None:
        try:
            space = await probe_space(self.manager.provider, self.manager.provider_space)
        except ProviderError as exc:
            event(
                log,
                "provider_probe_failed",
                level=logging.WARNING,
                error=str(exc),
                failures=self.failures + 1,
            )
            return None
        self.manager.record_probe(space)
        return space

    async def tick(self) -> Outcome:
        self.settled.clear()
        async with self.manager.steps:  # a migration's swap never lands inside a tick
            outcome = await self._tick()
        if outcome is Outcome.SETTLED:
            self.settled.set()
        return outcome

    async def _tick(self) -> Outcome:
        self.ticks += 1
        # Words need no provider: ready even while it is down. Before the probe rather than beside
        # it: tokenising holds the GIL, and on 2 cores it slowed the rebuild more than it saved.
        await self.manager.prepare_lexical()
        outcome = await self._dense_tick()
        # Sources read again during the tick whose index did not get a generation from them (its
        # rebuild failed) get their words now (for every other index it is one identity check).
        await self.manager.prepare_lexical()
        return outcome

    async def _dense_tick(self) -> Outcome:
        space = await self._probe()
        if space is None:
            return Outcome.FAILED  # states stay as they are: the provider may only be blipping
        manager = self.manager
        # Edited sources are read now; a reindex builds from them, otherwise they are refreshed.
        for name in await manager.reread_sources():
            manager.force(name, "sources changed")
        decision = decide(
            space, manager.built_space, self.incomplete, manager.all_ready(), bool(manager.forced)
        )
        if decision is Decision.REINDEX_ALL:
            return await self._reindex_all(space)
        if decision is Decision.REFRESH:
            return await self._refresh(space)
        return Outcome.SETTLED

    def _why(self, space: EmbeddingSpace) -> str:
        built = self.manager.built_space
        if built is None:
            return "first build"
        if self.incomplete:
            return f"retrying an incomplete reindex in {space.describe()}"
        if not space.same_as(built):
            same_name = (space.model, space.dimensions) == (built.model, built.dimensions)
            detail = " (same name, different fingerprint)" if same_name else ""
            if same_name and space.same_as(dataclasses.replace(built, query_fingerprint=())):
                detail = " (same name, different query fingerprint)"
            return f"embedding space changed: {built.describe()} -> {space.describe()}{detail}"
        return "index not ready"

    async def _reindex_all(self, space: EmbeddingSpace) -> Outcome:
        manager = self.manager
        reason = self._why(space)
        event(log, "reindex_started", reason=reason, space=space.describe(), indexes=len(manager.slots))
        manager.park_all(reason)  # every index stops serving before any rebuild starts
        manager.take_forced()  # a full reindex covers every requested rebuild
        self.incomplete = True  # until proven otherwise
        slots = [manager.slots[name] for name in smallest_first(manager, list(manager.slots))]
        failed, moved = await self._rebuild_together(slots, space)
        if moved is not None:
            return self._abandon(space, moved)
        if failed:
            manager.park_all(f"reindex incomplete: {', '.join(failed)} failed")
            event(
                log,
                "reindex_incomplete",
                level=logging.WARNING,
                failed=",".join(failed),
                space=space.describe(),
            )
            return Outcome.FAILED
        if await self._moved_since(space):
            return self._abandon(space, "provider space changed during the rebuild")
        manager.mark_built(space)
        self.incomplete = False
        event(log, "reindex_complete", space=space.describe(), indexes=len(manager.slots))
        if manager.cache is not None:
            await asyncio.to_thread(manager.cache.prune)  # older spaces beyond the retention go
        return Outcome.SETTLED

    async def _rebuild_together(
        self, slots: Sequence[IndexSlot], space: EmbeddingSpace
    ) -> tuple[list[str], str | None]:
        """Rebuild ``slots`` concurrently. Returns the indexes that failed (the others went on) and,
        when the space moved under a rebuild, why: then every rebuild still running is cancelled
        (its index goes back to PARKED) before this returns."""
        manager = self.manager
        running = {
            asyncio.create_task(manager.rebuild(slot, space), name=f"semsearch-rebuild-{slot.name}"): slot
            for slot in slots  # created smallest first, so the smallest asks the provider first
        }
        failed: list[str] = []
        moved: str | None = None
        pending = set(running)
        try:
            while pending and moved is None:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    error = None if task.cancelled() else task.exception()
                    if isinstance(error, SpaceMoved):
                        moved = moved or str(error)
                    elif task.cancelled() or error is not None:
                        failed.append(running[task].name)  # a provider failure or a bug: the others go on
                if moved is None and self._wake.is_set() and await self._moved_since(space):
                    moved = "provider space changed during the rebuild"
        finally:
            for task in pending:  # a moved space, or the watcher itself is being stopped
                task.cancel(moved if moved is not None else "the watcher stopped")
            await asyncio.gather(*pending, return_exceptions=True)
        order = list(manager.slots)  # configuration order, as reported before
        return sorted(failed, key=order.index), moved

    async def _moved_since(self, space: EmbeddingSpace) -> bool:
        """Re-probe; an unreachable provider is not evidence of a move (the next tick checks again)."""
        self._wake.clear()
        now = await self._probe()
        return now is not None and not now.same_as(space)

    def _abandon(self, space: EmbeddingSpace, why: str) -> Outcome:
        self.manager.park_all(f"reindex abandoned: {why}")
        event(log, "reindex_abandoned", level=logging.WARNING, space=space.describe(), reason=why)
        return Outcome.RESTART

    async def _refresh(self, space: EmbeddingSpace) -> Outcome:
        manager = self.manager
        forced = manager.take_forced()
        wanted = [(name, forced[name]) for name in smallest_first(manager, list(forced))]
        event(log, "refresh_started", indexes=",".join(name for name, _ in wanted), space=space.describe())
        outcome = Outcome.SETTLED
        for position, (name, reason) in enumerate(wanted):
            try:
                await manager.refresh(manager.slots[name], space, f"reindexed: {reason}")
            except SpaceMoved:
                for later, why in wanted[position:]:
                    manager.force(later, why)  # still wanted, after the reindex of the new space
                return Outcome.RESTART  # the next tick sees the new space and reindexes everything
            except Exception as exc:
                manager.force(name, reason)  # still wanted: retried after backoff
                event(log, "reindex_failed", level=logging.WARNING, index=name, reason=reason, error=str(exc))
                outcome = Outcome.FAILED
        return outcome
