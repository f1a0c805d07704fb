"""The index manager: owns every slot, builds indexes in the provider's space, publishes every change.

All state lives on one event loop and is mutated only here; readers take immutable snapshots.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

from semsearch.corpus import Document
from semsearch.embeddings import EmbeddingProvider, EmbeddingSpace, ProviderError, probe_space
from semsearch.errors import IndexNotFound
from semsearch.lifecycle.builder import build_index
from semsearch.lifecycle.events import EventBus
from semsearch.lifecycle.slot import IndexSlot, IndexStatus, Progress
from semsearch.lifecycle.state import IndexState
from semsearch.logs import event

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IndexSource:
    """What an index is built from: its declared name and kind and its loaded documents."""

    name: str
    kind: str
    documents: tuple[Document, ...]


class IndexManager:
    def __init__(
        self,
        sources: Sequence[IndexSource],
        provider: EmbeddingProvider,
        bus: EventBus | None = None,
        retry_base: float = 1.0,
        retry_cap: float = 60.0,
    ) -> None:
        self.provider = provider
        self.bus = bus or EventBus()
        self.slots = {s.name: IndexSlot(s.name, s.kind, s.documents) for s in sources}
        self.provider_space: EmbeddingSpace | None = None
        self.built_space: EmbeddingSpace | None = None
        self.probed_at: float | None = None
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self._forced: dict[str, str] = {}  # index -> reason of a requested rebuild
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- reading -------------------------------------------------------------------------------
    def statuses(self) -> list[IndexStatus]:
        return [slot.status() for slot in self.slots.values()]

    def status(self, name: str) -> IndexStatus:
        slot = self.slots.get(name)
        if slot is None:
            raise IndexNotFound(f"no index named {name!r}", index=name)
        return slot.status()

    def all_ready(self) -> bool:
        return all(slot.state is IndexState.READY for slot in self.slots.values())

    # -- running -------------------------------------------------------------------------------
    def start(self) -> None:
        for slot in self.slots.values():
            self.bus.publish(slot.name, slot.state, slot.status(), "startup")
        self._task = asyncio.create_task(self._run(), name="semsearch-index-builder")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self, reason: str) -> None:
        """Ask the builder to look again now (a query saw another space, or an operator asked)."""
        event(log, "builder_woken", reason=reason)
        self._wake.set()

    def request_rebuild(self, names: Sequence[str], reason: str) -> list[IndexStatus]:
        """Schedule a rebuild of ``names`` (all when empty); a READY index keeps serving meanwhile."""
        targets = list(names) or list(self.slots)
        statuses = [self.status(name) for name in targets]  # unknown name: nothing is scheduled
        for name in targets:
            self._forced[name] = reason
        self.wake(f"reindex requested: {reason}")
        return statuses

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                ok = await self._pass()
            except Exception as exc:  # never let the builder die: log, count as a failure, go on
                event(log, "builder_error", level=logging.ERROR, error=repr(exc))
                ok = False
            failures = 0 if ok else failures + 1
            await self._sleep(None if ok else self._backoff(failures))

    async def _pass(self) -> bool:
        """Probe the provider, build every index that is not READY; True when all are READY."""
        try:
            space = await probe_space(self.provider)
        except ProviderError as exc:
            event(log, "provider_probe_failed", level=logging.WARNING, error=str(exc))
            return False
        self.provider_space, self.probed_at = space, time.time()
        ok = True
        for slot in self.slots.values():
            if slot.state is not IndexState.READY:
                self._forced.pop(slot.name, None)
                ok = await self._rebuild(slot, space) and ok
            elif slot.name in self._forced:
                ok = await self._refresh(slot, space, self._forced.pop(slot.name)) and ok
        if ok:
            self.built_space = space
        return ok

    async def _rebuild(self, slot: IndexSlot, space: EmbeddingSpace) -> bool:
        chunks = slot.chunks
        previous = slot.move(IndexState.REBUILDING)
        slot.set_progress(Progress(0, len(chunks)))
        self.bus.publish(slot.name, previous, slot.status(), f"building in {space.describe()}")
        started = time.perf_counter()

        def on_progress(done: int) -> None:
            slot.set_progress(Progress(done, len(chunks)))

        try:
            index = await build_index(chunks, self.provider, space, on_progress)
        except ProviderError as exc:
            slot.last_error = str(exc)
            previous = slot.move(IndexState.PARKED)
            self.bus.publish(slot.name, previous, slot.status(), "rebuild failed")
            return False
        slot.index, slot.space, slot.last_error = index, space, ""
        slot.generation += 1
        previous = slot.move(IndexState.READY)
        self.bus.publish(slot.name, previous, slot.status(), "rebuilt")
        event(
            log,
            "index_built",
            index=slot.name,
            chunks=len(chunks),
            space=space.describe(),
            seconds=round(time.perf_counter() - started, 3),
            generation=slot.generation,
        )
        return True

    async def _refresh(self, slot: IndexSlot, space: EmbeddingSpace, reason: str) -> bool:
        """Rebuild a READY index in the background and swap it in; the old one serves until then."""
        try:
            index = await build_index(slot.chunks, self.provider, space)
        except ProviderError as exc:
            slot.last_error = str(exc)
            event(log, "reindex_failed", level=logging.WARNING, index=slot.name, error=str(exc))
            self._forced.setdefault(slot.name, reason)  # still wanted: retried after backoff
            return False
        slot.index, slot.space, slot.last_error = index, space, ""  # one assignment: the swap
        slot.generation += 1
        previous = slot.move(IndexState.READY)
        self.bus.publish(slot.name, previous, slot.status(), f"reindexed: {reason}")
        return True

    def _backoff(self, failures: int) -> float:
        ceiling = min(self.retry_cap, self.retry_base * 2 ** (failures - 1))
        return random.uniform(ceiling / 2, ceiling)

    async def _sleep(self, seconds: float | None) -> None:
        """Wait for a wake-up, or at most ``seconds`` (None: only a wake-up)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()
