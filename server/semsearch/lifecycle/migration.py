"""Planned model migration: move every index to another model the provider serves by name, with no
moment of unavailability.

In the client-chosen regime semsearch names its model in every request, so a change can be planned
rather than suffered: probe the target, build a shadow of every index in the target's space while
the current indexes keep serving (queries are still embedded by the current model), then swap every
index, the query model and the query cache in one synchronous step, so a search sees all the old
indexes or all the new ones, never a mix. Two generations are alive until the swap: that is the
price, in memory.

A failure or a cancel drops the shadows and leaves the current model serving. When an index stops
serving (the watcher parks every index because the current space moved, or a rebuild failed), the
migration's premise is gone: it is aborted and the watcher's park-and-rebuild takes over.
"""

from __future__ import annotations

import asyncio
import copy
import enum
import logging
import time
from collections.abc import Sequence
from dataclasses import replace

from semsearch.embeddings import (
    EmbeddingProvider,
    EmbeddingSpace,
    ProviderError,
    ProviderResponseError,
    SpaceMoved,
    probe_space,
)
from semsearch.errors import EmbeddingProviderUnavailable, FailedPrecondition, InvalidArgument
from semsearch.index import VectorIndex
from semsearch.lifecycle.builder import build_index
from semsearch.lifecycle.events import StateChange
from semsearch.lifecycle.manager import IndexManager
from semsearch.lifecycle.migration_status import MigrationPhase, MigrationStatus
from semsearch.lifecycle.slot import IndexSlot, Progress, Shadow
from semsearch.lifecycle.sources import IndexSource
from semsearch.lifecycle.state import IndexState
from semsearch.logs import event

log = logging.getLogger(__name__)

MAX_MODEL_NAME = 200
PROGRESS_EVENTS = 4  # progress events per shadow build at most, besides its start and its end


class Regime(enum.Enum):
    PROVIDER_CHOSEN = "provider-chosen"  # the provider may change the model: watch, park, rebuild
    CLIENT_CHOSEN = "client-chosen"  # the provider serves models by name: semsearch picks one


class _Stale(Exception):
    """The service changed under the migration in a way the bus did not already report."""


def asking_for(provider: EmbeddingProvider, model: str) -> EmbeddingProvider:
    """The same provider asked for ``model``: connections, settings and metrics are shared, so the
    shadows are embedded by the target while queries keep naming the current model. Never close it."""
    view = copy.copy(provider)
    view.model = model
    return view


def check_model_name(name: str) -> None:
    if not name.strip() or len(name) > MAX_MODEL_NAME or not name.isprintable() or name != name.strip():
        raise InvalidArgument(
            "INVALID_MODEL",
            "model",
            f"model must be 1 to {MAX_MODEL_NAME} printable characters without surrounding spaces",
        )


class Migrator:
    """Runs at most one migration at a time; every step of it happens on the event loop."""

    def __init__(self, manager: IndexManager, regime: Regime | str) -> None:
        self.manager = manager
        self.regime = Regime(regime)
        self.status: MigrationStatus | None = None  # the running migration, or the last one
        self._task: asyncio.Task[None] | None = None
        self._slots: tuple[IndexSlot, ...] = ()  # the indexes the running migration moves
        self._starting = asyncio.Lock()  # one start at a time: a second one sees the first
        self._stopping: tuple[MigrationPhase, str] | None = None  # why the task is being stopped
        self._done_before = Progress()  # chunks of the shadows already built
        manager.bus.add_listener(self._on_change)

    # -- requests ------------------------------------------------------------------------------
    async def start(self, target: str, reason: str) -> MigrationStatus:
        """Probe ``target`` and start building the shadows; raises a domain error when it cannot."""
        check_model_name(target)
        if self.regime is Regime.PROVIDER_CHOSEN:
            raise FailedPrecondition(
                "MODEL_CHOSEN_BY_PROVIDER",
                "the provider chooses the model ([embeddings] regime = provider-chosen): "
                "set regime = client-chosen to migrate",
            )
        async with self._starting:
            if self.status is not None and self.status.running:
                if self.status.target_model == target:
                    return self.status  # asked again: the same migration, not a second one
                raise FailedPrecondition(
                    "MIGRATION_IN_PROGRESS",
                    f"a migration to {self.status.target_model!r} is running; cancel it first",
                    target=self.status.target_model,
                )
            source = self.manager.provider.model
            if target == source:
                raise FailedPrecondition("MODEL_ALREADY_CURRENT", f"{target!r} is already the current model")
            built = self._serving_space()
            space = await self._probe(target)
            if self._serving_space() is not built or self.manager.provider.model != source:
                raise FailedPrecondition(
                    "INDEXES_NOT_READY", "the indexes changed while the target was probed; try again"
                )
            if space.same_as(built):
                raise FailedPrecondition(
                    "MODEL_ALREADY_CURRENT", f"{target!r} answers in the current space {built.describe()}"
                )
            return self._launch(source, target, space, reason)

    async def cancel(self, reason: str) -> MigrationStatus:
        """Stop the running migration and wait until it has let go of its shadows."""
        task, status = self._task, self.status
        if task is None or status is None or not status.running:
            last = f" (the last one, to {status.target_model!r}, {status.phase.value})" if status else ""
            raise FailedPrecondition("NO_MIGRATION_RUNNING", f"no migration is running{last}")
        self._stop(MigrationPhase.CANCELLED, f"cancelled: {reason}")
        await asyncio.wait([task])
        assert self.status is not None
        return self.status

    async def stop(self) -> None:
        """The server stops: end a running migration (the current model keeps its indexes)."""
        task = self._task
        if task is not None:
            self._stop(MigrationPhase.CANCELLED, "cancelled: the server is stopping")
            await asyncio.wait([task])

    # -- preconditions -------------------------------------------------------------------------
    def _serving_space(self) -> EmbeddingSpace:
        built = self.manager.built_space
        if built is None or not self.manager.all_ready():
            raise FailedPrecondition(
                "INDEXES_NOT_READY",
                "every index must be READY in the recorded space before a migration; wait and retry",
            )
        return built

    async def _probe(self, target: str) -> EmbeddingSpace:
        view = asking_for(self.manager.provider, target)
        try:
            space = await probe_space(view)
        except SpaceMoved as exc:
            raise EmbeddingProviderUnavailable(f"{target!r} changed while being probed: {exc}") from exc
        except ProviderResponseError as exc:
            raise FailedPrecondition(
                "MODEL_NOT_SERVED", f"the provider does not serve {target!r}: {exc}", model=target
            ) from exc
        except ProviderError as exc:
            raise EmbeddingProviderUnavailable(
                f"could not probe {target!r}: {exc}", retry_after=exc.retry_after or 1.0
            ) from exc
        if space.model != target:
            # The provider chose for us: it does not serve models by name, so naming one is moot.
            raise FailedPrecondition(
                "MODEL_NOT_SERVED",
                f"asked for {target!r}, the provider answered as {space.model!r}: "
                "it does not serve models by name",
                model=target,
            )
        return space

    # -- the migration -------------------------------------------------------------------------
    def _launch(self, source: str, target: str, space: EmbeddingSpace, reason: str) -> MigrationStatus:
        slots = tuple(s for s in self.manager.slots.values() if s.state is IndexState.READY)
        total = sum(len(doc.chunks) for s in slots for doc in self.manager.sources[s.name].documents)
        self._slots, self._stopping, self._done_before = slots, None, Progress()
        self.status = MigrationStatus(
            MigrationPhase.BUILDING,
            source,
            target,
            space,
            reason,
            Progress(0, total),
            0,
            len(slots),
            time.time(),
        )
        event(
            log,
            "migration_started",
            source=source,
            target=space.describe(),
            indexes=len(slots),
            reason=reason,
        )
        self._task = asyncio.create_task(self._run(slots, space), name="semsearch-migration")
        return self.status

    async def _run(self, slots: Sequence[IndexSlot], space: EmbeddingSpace) -> None:
        started = time.perf_counter()
        view = asking_for(self.manager.provider, space.model)
        shadows: dict[str, tuple[IndexSource, VectorIndex]] = {}
        try:
            for slot in slots:
                shadows[slot.name] = await self._build(slot, view, space)
            async with self.manager.steps:  # never inside a watcher tick: its probe would undo us
                self._check_unchanged(slots)
                await self.manager.adopt_migration(shadows, space, self._swapped)
            shadows.clear()
            event(
                log,
                "migration_complete",
                target=space.describe(),
                indexes=len(slots),
                seconds=round(time.perf_counter() - started, 3),
            )
            if self.manager.cache is not None:
                await asyncio.to_thread(self.manager.cache.prune)  # spaces beyond the retention go
        except asyncio.CancelledError:
            phase, why = self._stopping or (MigrationPhase.CANCELLED, "cancelled")
            self._finish(phase, why)
            raise
        except _Stale as exc:
            self._finish(MigrationPhase.ABORTED, str(exc))
        except ProviderError as exc:
            self._finish(MigrationPhase.FAILED, str(exc))
        except Exception as exc:  # a bug: report it as a failure, keep serving the current model
            event(log, "migration_crashed", level=logging.ERROR, exc_info=True, error=repr(exc))
            self._finish(MigrationPhase.FAILED, f"migration failed unexpectedly: {type(exc).__name__}: {exc}")
        finally:
            self._task = None

    async def _build(
        self, slot: IndexSlot, view: EmbeddingProvider, space: EmbeddingSpace
    ) -> tuple[IndexSource, VectorIndex]:
        source = self.manager.sources[slot.name]  # the latest read of its sources
        chunks = source.chunks
        generation = slot.generation + 1
        self.manager.set_shadow(slot, Shadow(space, generation, Progress(0, len(chunks))))
        self._publish(slot, f"migrating: building generation {generation} in {space.describe()}")
        reported = 0

        def on_progress(progress: Progress) -> None:
            nonlocal reported
            self.manager.set_shadow(slot, Shadow(space, generation, progress))
            self._note_progress(progress)
            step = progress.done * PROGRESS_EVENTS // max(progress.total, 1)
            if reported < step < PROGRESS_EVENTS:
                reported = step
                self._publish(
                    slot, f"migrating: {progress.done}/{progress.total} chunks in {space.describe()}"
                )

        index = await build_index(chunks, view, space, self.manager.cache, on_progress)
        done = slot.shadow.progress if slot.shadow else Progress(len(chunks), len(chunks))
        self._done_before = Progress(
            self._done_before.done + done.done, 0, self._done_before.cached + done.cached
        )
        self.manager.set_shadow(slot, Shadow(space, generation, done, built=True))
        assert self.status is not None
        self.status = replace(self.status, indexes_built=self.status.indexes_built + 1)
        self._publish(slot, f"migrating: generation {generation} built in {space.describe()}")
        return source, index

    def _note_progress(self, progress: Progress) -> None:
        assert self.status is not None
        total = self.status.progress.total
        done = self._done_before.done + progress.done
        cached = self._done_before.cached + progress.cached
        self.status = replace(self.status, progress=Progress(done, total, cached))

    def _check_unchanged(self, slots: Sequence[IndexSlot]) -> None:
        """Defence in depth: the bus listener aborts on every change it hears of; this catches the rest."""
        assert self.status is not None
        names = {slot.name for slot in slots}
        moved = [
            s.name for s in self.manager.slots.values() if (s.state is IndexState.READY) != (s.name in names)
        ]
        if moved or self.manager.provider.model != self.status.source_model:
            raise _Stale(f"the indexes changed during the migration ({', '.join(moved) or 'model'})")

    def _swapped(self, slots: Sequence[IndexSlot]) -> None:
        """Called by the manager in the swap's synchronous step: the migration succeeded."""
        space = self.manager.built_space
        assert self.status is not None and space is not None
        self.status = replace(self.status, phase=MigrationPhase.SUCCEEDED, finished_at=time.time())
        for position, slot in enumerate(slots):
            self._publish(
                slot,
                f"migrated to {space.describe()}",
                previous=IndexState.READY,
                step_remaining=len(slots) - 1 - position,
            )

    # -- endings -------------------------------------------------------------------------------
    def _on_change(self, change: StateChange) -> None:
        """Bus listener: an index the migration moves stopped serving, so its premise is gone."""
        if self._task is None or change.previous is not IndexState.READY or change.state is IndexState.READY:
            return
        if any(slot.name == change.index for slot in self._slots):
            # Called inside a publish: only cancel here; the task reports once it has unwound.
            self._stop(
                MigrationPhase.ABORTED, f"aborted: index {change.index!r} stopped serving ({change.reason})"
            )

    def _stop(self, phase: MigrationPhase, why: str) -> None:
        if self._task is not None and self._stopping is None:
            self._stopping = (phase, why)
            self._task.cancel()

    def _finish(self, phase: MigrationPhase, error: str) -> None:
        status = self.status
        if status is None or not status.running:
            return  # the swap already happened: a late cancel changes nothing
        for slot in self._slots:
            self.manager.set_shadow(slot, None)  # the shadows' matrices go with the task's frame
        self.status = replace(status, phase=phase, error=error, finished_at=time.time())
        for slot in self._slots:
            self._publish(slot, f"migration to {status.target_model} {phase.value.lower()}: {error}")
        event(
            log,
            f"migration_{phase.value.lower()}",
            level=logging.WARNING,
            source=status.source_model,
            target=status.target_space.describe(),
            error=error,
        )

    def _publish(
        self, slot: IndexSlot, reason: str, previous: IndexState | None = None, step_remaining: int = 0
    ) -> None:
        self.manager.bus.publish(
            slot.name,
            slot.state if previous is None else previous,
            slot.status(),
            reason,
            migration=self.status,
            step_remaining=step_remaining,
        )
