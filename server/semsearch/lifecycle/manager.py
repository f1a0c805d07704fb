"""The index manager: owns every slot and the recorded spaces, and performs each lifecycle step.

All state lives on one event loop and is mutated only here (driven by the watcher); readers take
immutable snapshots. Every state change is published on the bus.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from semsearch.corpus import Document
from semsearch.embeddings import EmbeddingProvider, EmbeddingSpace, ProviderError
from semsearch.errors import IndexNotFound
from semsearch.lifecycle.builder import build_index
from semsearch.lifecycle.events import EventBus
from semsearch.lifecycle.slot import IndexSlot, IndexStatus, Progress
from semsearch.lifecycle.state import IndexState
from semsearch.logs import event

log = logging.getLogger(__name__)


class WakeTarget(Protocol):
    """What the manager wakes: the watcher."""

    def wake(self, reason: str) -> None: ...


@dataclass(frozen=True, slots=True)
class IndexSource:
    """What an index is built from: its declared name and kind and its loaded documents."""

    name: str
    kind: str
    documents: tuple[Document, ...]


class IndexManager:
    def __init__(
        self, sources: Sequence[IndexSource], provider: EmbeddingProvider, bus: EventBus | None = None
    ):
        self.provider = provider
        self.bus = bus or EventBus()
        self.slots = {s.name: IndexSlot(s.name, s.kind, s.documents) for s in sources}
        self.provider_space: EmbeddingSpace | None = None  # what the last successful probe saw
        self.built_space: EmbeddingSpace | None = None  # advanced only when every index rebuilt in it
        self.probed_at: float | None = None
        self.forced: dict[str, str] = {}  # index -> reason of a requested rebuild
        self.waker: WakeTarget | None = None

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

    # -- requests from other layers --------------------------------------------------------------
    def wake(self, reason: str) -> None:
        """Ask the watcher to look at the provider now (a query saw another space, a reindex)."""
        if self.waker is not None:
            self.waker.wake(reason)

    def request_rebuild(self, names: Sequence[str], reason: str) -> list[IndexStatus]:
        """Schedule a rebuild of ``names`` (all when empty); a READY index keeps serving meanwhile."""
        targets = list(names) or list(self.slots)
        statuses = [self.status(name) for name in targets]  # an unknown name schedules nothing
        for name in targets:
            self.forced[name] = reason
        event(log, "reindex_requested", indexes=",".join(targets), reason=reason)
        self.wake(f"reindex requested: {reason}")
        return statuses

    # -- lifecycle steps (called by the watcher) -------------------------------------------------
    def announce(self) -> None:
        for slot in self.slots.values():
            self.bus.publish(slot.name, slot.state, slot.status(), "startup")

    def park_all(self, reason: str) -> None:
        """Every READY index stops serving at once; none may serve outside ``built_space``."""
        for slot in self.slots.values():
            if slot.state is IndexState.READY:
                slot.index = None  # release the matrix: it will never serve again
                previous = slot.move(IndexState.PARKED)
                self.bus.publish(slot.name, previous, slot.status(), reason)

    async def rebuild(self, slot: IndexSlot, space: EmbeddingSpace) -> None:
        """PARKED → REBUILDING → READY (swapped in), or → PARKED with ``last_error`` and the error raised.

        A SpaceMoved error means the provider answered from another space than ``space``.
        """
        chunks = slot.chunks
        previous = slot.move(IndexState.REBUILDING)
        slot.set_progress(Progress(0, len(chunks)))
        self.bus.publish(slot.name, previous, slot.status(), f"rebuilding in {space.describe()}")
        started = time.perf_counter()

        def on_progress(done: int) -> None:
            slot.set_progress(Progress(done, len(chunks)))

        try:
            index = await build_index(chunks, self.provider, space, on_progress)
        except ProviderError as exc:
            slot.last_error = str(exc)
            previous = slot.move(IndexState.PARKED)
            self.bus.publish(slot.name, previous, slot.status(), "rebuild failed")
            raise
        slot.index, slot.space, slot.last_error = index, space, ""  # one assignment each: the swap
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

    async def refresh(self, slot: IndexSlot, space: EmbeddingSpace, reason: str) -> None:
        """Rebuild a READY index in the background and swap it in; the old one serves until then."""
        try:
            index = await build_index(slot.chunks, self.provider, space)
        except ProviderError as exc:
            slot.last_error = str(exc)
            raise
        slot.index, slot.space, slot.last_error = index, space, ""
        slot.generation += 1
        previous = slot.move(IndexState.READY)
        self.bus.publish(slot.name, previous, slot.status(), f"reindexed: {reason}")
