"""What a model migration reports: where it stands and how far it has come, as an immutable snapshot."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from semsearch.embeddings.space import EmbeddingSpace
from semsearch.lifecycle.slot import Progress


class MigrationPhase(enum.Enum):
    BUILDING = "BUILDING"  # shadows are being built; the current model serves
    SUCCEEDED = "SUCCEEDED"  # every index swapped to the target in one step
    FAILED = "FAILED"  # a shadow build failed; the current model still serves
    CANCELLED = "CANCELLED"  # an operator (or the server's stop) ended it
    ABORTED = "ABORTED"  # the current space moved or an index stopped serving: the watcher takes over


@dataclass(frozen=True, slots=True)
class MigrationStatus:
    phase: MigrationPhase
    source_model: str
    target_model: str
    target_space: EmbeddingSpace
    reason: str
    progress: Progress  # chunks over every index
    indexes_built: int
    indexes_total: int
    started_at: float  # unix time
    finished_at: float | None = None
    error: str = ""

    @property
    def running(self) -> bool:
        return self.phase is MigrationPhase.BUILDING


class Migrations(Protocol):
    """What other layers ask of planned migrations (the migrator, wired in by the app)."""

    @property
    def status(self) -> MigrationStatus | None:
        """The running migration, or the last one."""
        ...

    async def start(self, target: str, reason: str) -> MigrationStatus: ...

    async def cancel(self, reason: str) -> MigrationStatus: ...
