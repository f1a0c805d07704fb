"""The index manager: the one owner of lifecycle state.

It holds every slot, the recorded spaces (``provider_space``: what the last probe saw;
``built_space``: advanced only when every index rebuilt in it) and the requested rebuilds, and it
alone writes them. The watcher and the migrator decide *when*; they ask the manager through named
methods (``record_probe``, ``mark_built``, ``take_forced``, ``adopt_migration``…) and never touch a
slot. Every generation swapped in is first put in the store and made current there. On a replica
that follows another's indexer, it applies what the shared log says (``adopt_stored``, ``mirror``).
All on one event loop; readers take snapshots (``status()``) or one reference to a slot's serving
generation. Every state change is published on the bus.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from semsearch.embeddings import EmbeddingProvider, EmbeddingSpace, ProviderError, QueryCache
from semsearch.errors import IndexNotFound
from semsearch.index import VectorIndex
from semsearch.lifecycle.events import EventBus
from semsearch.lifecycle.generation import ServingGeneration
from semsearch.lifecycle.generations import (
    build_generation,
    drop_old_generations,
    generation_from_shadow,
    generation_from_store,
    store_generation,
)
from semsearch.lifecycle.lexical import lexical_for
from semsearch.lifecycle.migration_status import Migrations
from semsearch.lifecycle.slot import IndexSlot, IndexStatus, Progress, Shadow
from semsearch.lifecycle.sources import IndexSource, Sources
from semsearch.lifecycle.state import IndexState
from semsearch.logs import event
from semsearch.store import GenerationStore, LocalStore, StoredGeneration, VectorCache

log = logging.getLogger(__name__)


SOURCES_UNLOADABLE = "sources do not load"


def _describe_failure(exc: BaseException) -> str:
    if isinstance(exc, ProviderError):
        return str(exc)
    if isinstance(exc, asyncio.CancelledError):
        return "rebuild cancelled" + (f": {exc.args[0]}" if exc.args and exc.args[0] else "")
    return f"rebuild failed unexpectedly: {type(exc).__name__}: {exc}"


class WakeTarget(Protocol):
    """What the manager wakes: the watcher."""

    def wake(self, reason: str) -> None: ...


class IndexManager:
    def __init__(
        self,
        sources: Sequence[IndexSource],
        provider: EmbeddingProvider,
        bus: EventBus | None = None,
        store: GenerationStore | None = None,
        query_cache: QueryCache | None = None,
    ) -> None:
        self.provider = provider
        self.bus = bus or EventBus()
        self.store: GenerationStore = store if store is not None else LocalStore()
        self.query_cache = query_cache or QueryCache(0)
        self.sources = Sources(sources)  # the latest read of each index's sources
        self.slots = {s.name: IndexSlot(s.name, s.kind, s.documents) for s in sources}
        for source in sources:
            if source.load_error:
                self.slots[source.name].last_error = f"{SOURCES_UNLOADABLE}: {source.load_error}"
        self._provider_space: EmbeddingSpace | None = None
        self._built_space: EmbeddingSpace | None = None
        self._probed_at: float | None = None
        self._forced: dict[str, str] = {}  # index -> reason of a requested rebuild
        self._waker: WakeTarget | None = None
        # With several replicas, a replica that does not index hands rebuild requests on.
        self._forward_rebuild: Callable[[list[str], str], bool] | None = None
        self.migration: Migrations | None = None
        self.steps = asyncio.Lock()  # one lifecycle step at a time: a watcher tick or a migration's swap
        self._built_listeners: list[Callable[[EmbeddingSpace], None]] = []

    def attach(
        self,
        waker: WakeTarget,
        migration: Migrations | None = None,
        forward_rebuild: Callable[[list[str], str], bool] | None = None,
    ) -> None:
        """Wiring: who to wake, whose migrations to report, who takes rebuild requests (replicas)."""
        self._waker, self.migration, self._forward_rebuild = waker, migration, forward_rebuild

    # -- reading -------------------------------------------------------------------------------
    @property
    def provider_space(self) -> EmbeddingSpace | None:  # what the last successful probe saw
        return self._provider_space

    @property
    def built_space(self) -> EmbeddingSpace | None:  # advanced only when every index rebuilt in it
        return self._built_space

    @property
    def probed_at(self) -> float | None:  # unix time of the last successful probe
        return self._probed_at

    @property
    def forced(self) -> Mapping[str, str]:  # requested rebuilds not yet done: index -> reason
        return dict(self._forced)

    @property
    def cache(self) -> VectorCache | None:
        return self.store.cache

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
        if self._waker is not None:
            self._waker.wake(reason)

    def request_rebuild(self, names: Sequence[str], reason: str) -> list[IndexStatus]:
        """Schedule a rebuild of ``names`` (all when empty); a READY index keeps serving meanwhile."""
        targets = list(names) or list(self.slots)
        statuses = [self.status(name) for name in targets]  # an unknown name schedules nothing
        if self._forward_rebuild is not None and self._forward_rebuild(list(names), reason):
            event(log, "reindex_forwarded", indexes=",".join(targets), reason=reason)
            return statuses
        for name in targets:
            self._forced[name] = reason
            self.sources.forget_signature(name)  # the watcher reads them again before rebuilding
        event(log, "reindex_requested", indexes=",".join(targets), reason=reason)
        self.wake(f"reindex requested: {reason}")
        return statuses

    # -- the watcher's records -------------------------------------------------------------------
    def record_probe(self, space: EmbeddingSpace) -> None:
        self._provider_space, self._probed_at = space, time.time()

    def add_built_listener(self, listener: Callable[[EmbeddingSpace], None]) -> None:
        """Told each time a space is recorded (every index rebuilt in it)."""
        self._built_listeners.append(listener)

    def mark_built(self, space: EmbeddingSpace) -> None:
        """Every index rebuilt in ``space``: it becomes the recorded space."""
        self._built_space = space
        for listener in self._built_listeners:
            listener(space)

    def force(self, name: str, reason: str) -> None:
        """Ask for a rebuild of ``name`` unless one is already asked for."""
        self._forced.setdefault(name, reason)

    def take_forced(self) -> dict[str, str]:
        """The requested rebuilds, now owned by the caller (who forces again what fails)."""
        taken, self._forced = self._forced, {}
        return taken

    # -- lifecycle steps (called by the watcher) -------------------------------------------------
    def announce(self) -> None:
        for slot in self.slots.values():
            self.bus.publish(slot.name, slot.state, slot.status(), "startup")

    def park_all(self, reason: str) -> None:
        """Every READY index stops serving at once; none may serve outside ``built_space``."""
        for slot in self.slots.values():
            if slot.state is IndexState.READY:
                serving = slot.serving
                if serving is not None:
                    slot.serve(serving.parked())  # release the matrix: it will never serve again
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
        previous = slot.move(IndexState.REBUILDING)
        slot.set_progress(Progress(0, len(source.chunks)))
        self.bus.publish(slot.name, previous, slot.status(), f"rebuilding in {space.describe()}")
        started = time.perf_counter()
        try:
            generation = await self._build(slot, source, space, slot.set_progress)
        except BaseException as exc:
            # Whatever went wrong (a provider failure, a bug, a cancelled shutdown), the slot must
            # not stay REBUILDING: it goes back to PARKED and says why; the caller decides what next.
            slot.last_error = _describe_failure(exc)
            previous = slot.move(IndexState.PARKED)
            self.bus.publish(slot.name, previous, slot.status(), "rebuild failed")
            if not isinstance(exc, ProviderError | asyncio.CancelledError):
                event(log, "rebuild_crashed", level=logging.ERROR, exc_info=True, index=slot.name)
            raise
        self._swap(slot, generation, "rebuilt")
        await self._drop_old(slot.name)
        event(
            log,
            "index_built",
            index=slot.name,
            chunks=generation.chunk_count,
            cached=slot.last_progress.cached,
            space=space.describe(),
            seconds=round(time.perf_counter() - started, 3),
            generation=generation.number,
        )

    async def refresh(self, slot: IndexSlot, space: EmbeddingSpace, reason: str) -> None:
        """Rebuild a READY index from its latest sources in the background, then swap it in.

        The old generation serves until the swap; with the cache only new or edited chunks are embedded.
        """
        if not self.has_sources(slot.name):
            return  # nothing to build yet: it is rebuilt in full once its sources load
        try:
            generation = await self._build(slot, self.sources[slot.name], space, slot.note_progress)
        except Exception as exc:
            self.note_error(slot, _describe_failure(exc))
            if not isinstance(exc, ProviderError):
                event(log, "refresh_crashed", level=logging.ERROR, exc_info=True, index=slot.name)
            raise
        self._swap(slot, generation, reason)
        await self._drop_old(slot.name)

    async def _build(
        self,
        slot: IndexSlot,
        source: IndexSource,
        space: EmbeddingSpace,
        on_progress: Callable[[Progress], None],
    ) -> ServingGeneration:
        """The next generation of ``slot`` from ``source``, stored and made current in the store."""
        generation = await build_generation(
            slot.serving, source, space, self.provider, self.cache, on_progress
        )
        await store_generation(self.store, slot.name, generation)
        return generation

    def _swap(self, slot: IndexSlot, generation: ServingGeneration, reason: str) -> None:
        """One synchronous step: the generation, the state and the error change together."""
        slot.serve(generation)
        slot.last_error = ""
        previous = slot.move(IndexState.READY)
        self.bus.publish(slot.name, previous, slot.status(), reason)

    async def _drop_old(self, name: str) -> None:
        await drop_old_generations(self.store, name)

    async def prepare_lexical(self) -> None:
        """Give every index that can answer with words a lexical index, before (or without) any
        embedding: a READY index keeps the one of its generation; any other gets one of its
        latest sources, in a words-only generation."""
        for slot in self.slots.values():
            if not self.has_sources(slot.name) or slot.state is IndexState.READY:
                continue
            source = self.sources[slot.name]
            before = slot.serving
            lexical = await lexical_for(slot.lexical, source, source.chunks)
            if before is not None and before.lexical is lexical:
                continue  # already the words of these sources
            if slot.serving is before:  # no swap meanwhile (a swap brings its own words)
                slot.serve(ServingGeneration.words_only(source.documents, lexical, before))

    def note_error(self, slot: IndexSlot, error: str, reason: str = "") -> None:
        """Record a failure (or its end, with ``error=""``) that leaves the state as it is — the old
        index keeps serving — and publish it; the event's previous and new state are the same."""
        if slot.last_error != error:
            slot.last_error = error
            self.bus.publish(slot.name, slot.state, slot.status(), reason or error)

    # -- planned migrations (called by the migrator) ---------------------------------------------
    def set_shadow(self, slot: IndexSlot, shadow: Shadow | None) -> None:
        slot.shadow = shadow

    async def adopt_migration(
        self,
        shadows: Mapping[str, tuple[IndexSource, VectorIndex]],
        space: EmbeddingSpace,
        on_swapped: Callable[[Sequence[IndexSlot]], None],
    ) -> list[str]:
        """Swap every migrated index, the query model and the query cache in one synchronous step
        (after each new generation is stored), so a search sees all the old indexes or all the new
        ones. ``on_swapped`` runs right after, in the same step (the migrator reports the swap).
        Returns the indexes whose sources were edited while their shadow was built."""
        generations: dict[str, ServingGeneration] = {}
        for name, (source, built) in shadows.items():
            generations[name] = await generation_from_shadow(self.slots[name].serving, source, built)
            await store_generation(self.store, name, generations[name])
        # From here to the end: no await, so nothing runs between the first swap and the last.
        stale = []
        for name, generation in generations.items():
            slot = self.slots[name]
            if self.sources[name].documents != generation.documents:
                stale.append(name)  # edited while its shadow was built: refreshed next tick
            slot.serve(generation)  # the old matrix goes (a search holding it finishes on it first)
            slot.last_error, slot.shadow = "", None
            slot.move(IndexState.READY)
        self.provider.model = space.model
        self._provider_space = space
        self.mark_built(space)
        self.query_cache.clear(space, f"model migrated to {space.describe()}")
        on_swapped([self.slots[name] for name in generations])
        for name in stale:
            self.force(name, "sources changed during the migration")
        if stale:
            self.wake("sources changed during the migration")
        for name in generations:
            await self._drop_old(name)
        return stale

    # -- following another replica's indexer -----------------------------------------------------
    async def adopt_stored(self, stored: StoredGeneration, reason: str) -> None:
        """Serve a generation another replica built, read back from the store: READY at once."""
        slot = self.slots[stored.index]
        generation = await generation_from_store(slot.serving, stored, self.sources[stored.index])
        if self._provider_space is None or not self._provider_space.same_as(stored.space):
            self._provider_space = self._built_space = stored.space  # queries are cached per space
        slot.serve(generation)
        self._mirror(slot, IndexState.READY, "", None, reason)

    def mirror(self, status: IndexStatus, reason: str) -> None:
        """Take the indexer's state of an index whose generation this replica already serves (or
        that stopped serving): PARKED and REBUILDING release the vectors, errors are copied."""
        slot = self.slots[status.name]
        serving = slot.serving
        if status.state is not IndexState.READY and serving is not None and serving.vectors is not None:
            slot.serve(serving.parked())
        self._mirror(slot, status.state, status.last_error, status.progress, reason)

    def _mirror(
        self, slot: IndexSlot, state: IndexState, error: str, progress: Progress | None, reason: str
    ) -> None:
        previous = slot.state
        # The indexer checked its own transitions; a replica that joined late may skip some.
        slot.mirror(state)
        slot.last_error = error
        if progress is not None and state is IndexState.REBUILDING:
            slot.set_progress(progress)
        self.bus.publish(slot.name, previous, slot.status(), reason)

    def take_over(self, reason: str) -> None:
        """This replica becomes the indexer: a rebuild the previous one left REBUILDING is not
        running here, so its index goes back to PARKED (the watcher rebuilds it from the cache)."""
        # Every corpus is read again and compared with what is served: unbuilt edits are not lost.
        self.sources.forget_signatures()
        for slot in self.slots.values():
            if slot.state is IndexState.REBUILDING:
                slot.last_error = reason
                previous = slot.move(IndexState.PARKED)
                self.bus.publish(slot.name, previous, slot.status(), reason)

    def adopt_space(self, built: EmbeddingSpace | None) -> None:
        """The space the indexer recorded (every index rebuilt in it)."""
        if built is not None:
            self._built_space = built
            if self._provider_space is None:
                self._provider_space = built

    # -- sources -------------------------------------------------------------------------------
    async def reread_sources(self) -> list[str]:
        """Read again the sources whose files changed; return the indexes whose documents changed.

        A corpus that no longer loads keeps its last good documents and says why in ``last_error``.
        """
        served = {name: slot.documents for name, slot in self.slots.items()}
        reread = await self.sources.reread(served)
        for name in reread.loadable:
            slot = self.slots[name]
            if slot.last_error.startswith(SOURCES_UNLOADABLE):
                event(log, "sources_loadable_again", index=name)
                self.note_error(slot, "", reason="sources load again")
        for name, error in reread.unloadable.items():
            self.note_error(self.slots[name], f"{SOURCES_UNLOADABLE}: {error}")
        return list(reread.changed)
