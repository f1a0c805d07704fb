"""The index manager: owns every slot and the recorded spaces, and performs each lifecycle step.

All state lives on one event loop and is mutated only here (driven by the watcher); readers take
immutable snapshots. Every state change is published on the bus.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from semsearch.corpus import Chunk, CorpusError, Document, load_corpus, source_signature
from semsearch.embeddings import EmbeddingCache, EmbeddingProvider, EmbeddingSpace, ProviderError, QueryCache
from semsearch.errors import IndexNotFound
from semsearch.lifecycle.builder import build_index
from semsearch.lifecycle.events import EventBus
from semsearch.lifecycle.lexical import lexical_for
from semsearch.lifecycle.slot import IndexSlot, IndexStatus, Progress
from semsearch.lifecycle.state import IndexState
from semsearch.logs import event

if TYPE_CHECKING:
    from semsearch.lifecycle.migration import Migrator

log = logging.getLogger(__name__)


SOURCES_UNLOADABLE = "sources do not load"


def _describe_failure(exc: BaseException) -> str:
    if isinstance(exc, ProviderError):
        return str(exc)
    if isinstance(exc, asyncio.CancelledError):
        return "rebuild cancelled"
    return f"rebuild failed unexpectedly: {type(exc).__name__}: {exc}"


class WakeTarget(Protocol):
    """What the manager wakes: the watcher."""

    def wake(self, reason: str) -> None: ...


@dataclass(frozen=True, slots=True)
class IndexSource:
    """What an index is built from: its name and kind, its loaded documents, and where they came from.

    With a ``path`` the manager can notice edits (``signature``) and read the sources again.
    ``load_error`` says why they could not be read at start: such an index has no documents and
    waits PARKED, without holding back the others, until its files load.
    """

    name: str
    kind: str
    documents: tuple[Document, ...]
    path: Path | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    signature: str = ""
    load_error: str = ""
    pin_identifiers: bool = True  # a query naming a document puts it first (see index.pinning)
    # Every chunk, in order: one tuple that the vector and the lexical index of these sources both
    # hold, so their row numbers agree and neither has to wait for the other to be built.
    chunks: tuple[Chunk, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        chunks = tuple(chunk for document in self.documents for chunk in document.chunks)
        object.__setattr__(self, "chunks", chunks)


class IndexManager:
    def __init__(
        self,
        sources: Sequence[IndexSource],
        provider: EmbeddingProvider,
        bus: EventBus | None = None,
        cache: EmbeddingCache | None = None,
        query_cache: QueryCache | None = None,
    ) -> None:
        self.provider = provider
        self.bus = bus or EventBus()
        self.cache = cache
        self.query_cache = query_cache or QueryCache(0)
        self.sources = {s.name: s for s in sources}  # the latest read of each index's sources
        self.slots = {s.name: IndexSlot(s.name, s.kind, s.documents) for s in sources}
        for source in sources:
            if source.load_error:
                self.slots[source.name].last_error = f"{SOURCES_UNLOADABLE}: {source.load_error}"
        self.provider_space: EmbeddingSpace | None = None  # what the last successful probe saw
        self.built_space: EmbeddingSpace | None = None  # advanced only when every index rebuilt in it
        self.probed_at: float | None = None
        self.forced: dict[str, str] = {}  # index -> reason of a requested rebuild
        self.waker: WakeTarget | None = None
        self.migration: Migrator | None = None  # set by a Migrator (planned model changes)
        self.steps = asyncio.Lock()  # one lifecycle step at a time: a watcher tick or a migration's swap

    # -- reading -------------------------------------------------------------------------------
    def statuses(self) -> list[IndexStatus]:
        return [slot.status() for slot in self.slots.values()]

    def status(self, name: str) -> IndexStatus:
        slot = self.slots.get(name)
        if slot is None:
            raise IndexNotFound(f"no index named {name!r}", index=name)
        return slot.status()

    def all_ready(self) -> bool:
        """Every index that has sources is READY (one whose sources never loaded cannot be)."""
        return all(
            slot.state is IndexState.READY for slot in self.slots.values() if self.has_sources(slot.name)
        )

    def has_sources(self, name: str) -> bool:
        """False while an index's sources have never loaded: there is nothing to build it from."""
        return not self.sources[name].load_error

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
            # Forget the sources' signature: the watcher reads them again before rebuilding.
            self.sources[name] = replace(self.sources[name], signature="")
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

        A SpaceMoved error means the provider answered from another space than ``space``. An index
        whose sources never loaded stays PARKED (its ``last_error`` says why) and the others go on.
        """
        if not self.has_sources(slot.name):
            return
        source = self.sources[slot.name]  # the latest read of its sources
        # The watcher's tick builds the lexical index of the same chunk tuple beside this rebuild.
        documents, chunks = source.documents, source.chunks
        previous = slot.move(IndexState.REBUILDING)
        slot.set_progress(Progress(0, len(chunks)))
        self.bus.publish(slot.name, previous, slot.status(), f"rebuilding in {space.describe()}")
        started = time.perf_counter()
        try:
            index = await build_index(chunks, self.provider, space, self.cache, slot.set_progress)
        except BaseException as exc:
            # Whatever went wrong (a provider failure, a bug, a cancelled shutdown), the slot must
            # not stay REBUILDING: it goes back to PARKED and says why; the caller decides what next.
            slot.last_error = _describe_failure(exc)
            previous = slot.move(IndexState.PARKED)
            self.bus.publish(slot.name, previous, slot.status(), "rebuild failed")
            if not isinstance(exc, ProviderError | asyncio.CancelledError):
                event(log, "rebuild_crashed", level=logging.ERROR, exc_info=True, index=slot.name)
            raise
        # The swap: one synchronous step, so a search sees the old index or the new one, never a mix.
        slot.documents, slot.index, slot.space, slot.last_error = documents, index, space, ""
        slot.generation += 1
        previous = slot.move(IndexState.READY)
        self.bus.publish(slot.name, previous, slot.status(), "rebuilt")
        event(
            log,
            "index_built",
            index=slot.name,
            chunks=len(chunks),
            cached=slot.last_progress.cached,
            space=space.describe(),
            seconds=round(time.perf_counter() - started, 3),
            generation=slot.generation,
        )

    async def refresh(self, slot: IndexSlot, space: EmbeddingSpace, reason: str) -> None:
        """Rebuild a READY index from its latest sources in the background, then swap it in.

        The old index serves until the swap; with the cache only new or edited chunks are embedded.
        """
        if not self.has_sources(slot.name):
            return  # nothing to build yet: it is rebuilt in full once its sources load
        source = self.sources[slot.name]
        documents, chunks = source.documents, source.chunks
        lexical = await lexical_for(slot.lexical, source, chunks)  # swapped in with the vectors
        try:
            index = await build_index(chunks, self.provider, space, self.cache, slot.note_progress)
        except Exception as exc:
            self.note_error(slot, _describe_failure(exc))
            if not isinstance(exc, ProviderError):
                event(log, "refresh_crashed", level=logging.ERROR, exc_info=True, index=slot.name)
            raise
        # The swap: documents, both indexes and space change together in one synchronous step.
        slot.documents, slot.index, slot.space, slot.last_error = documents, index, space, ""
        slot.lexical = lexical
        slot.generation += 1
        previous = slot.move(IndexState.READY)
        self.bus.publish(slot.name, previous, slot.status(), reason)

    async def prepare_lexical(self) -> None:
        """Keep every index's lexical index in line with its documents, so that a lexical or
        degraded search answers before (or without) any embedding: a READY index's with the
        documents its vectors were built from (a swap that brought none, a migration's, catches up
        here), any other's with its latest sources."""
        for slot in self.slots.values():
            if not self.has_sources(slot.name):
                continue
            source = self.sources[slot.name]
            chunks = source.chunks
            if slot.state is IndexState.READY and slot.index is not None:
                chunks = slot.index.chunks  # the very tuple its vectors were built from
            before = slot.lexical
            lexical = await lexical_for(before, source, chunks)
            if slot.lexical is before:  # a swap meanwhile brought its own: keep that one
                slot.lexical = lexical

    def note_error(self, slot: IndexSlot, error: str, reason: str = "") -> None:
        """Record a failure (or its end, with ``error=""``) that leaves the state as it is — the old
        index keeps serving — and publish it; the event's previous and new state are the same."""
        if slot.last_error != error:
            slot.last_error = error
            self.bus.publish(slot.name, slot.state, slot.status(), reason or error)

    # -- sources -------------------------------------------------------------------------------
    async def reread_sources(self) -> list[str]:
        """Read again the sources whose files changed; return the indexes whose documents changed.

        A corpus that no longer loads keeps its last good documents and says why in ``last_error``.
        """
        reread = []
        for name, source in list(self.sources.items()):
            if source.path is None:
                continue
            signature = await asyncio.to_thread(source_signature, source.kind, source.path)
            if signature == source.signature:
                self._sources_load_again(name)  # back to exactly the last good read
                continue
            try:
                loaded = await asyncio.to_thread(load_corpus, source.kind, source.path, source.options)
            except CorpusError as exc:
                event(log, "sources_unloadable", level=logging.WARNING, index=name, error=str(exc))
                self.note_error(self.slots[name], f"{SOURCES_UNLOADABLE}: {exc}")
                continue
            documents = tuple(loaded)
            self._sources_load_again(name)
            self.sources[name] = replace(source, documents=documents, signature=signature, load_error="")
            if documents != self.slots[name].documents:
                reread.append(name)
                event(
                    log,
                    "sources_changed",
                    index=name,
                    documents=len(documents),
                    chunks=sum(len(d.chunks) for d in documents),
                )
        return reread

    def _sources_load_again(self, name: str) -> None:
        slot = self.slots[name]
        if slot.last_error.startswith(SOURCES_UNLOADABLE):
            event(log, "sources_loadable_again", index=name)
            self.note_error(slot, "", reason="sources load again")
