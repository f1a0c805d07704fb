"""What several replicas share besides the generations (``store.GenerationStore``): one ordered log
of every state change, the recorded embedding space, and the indexer lease.

The indexer appends each change; every replica reads the log in order (its global sequence is
what WatchIndexes streams on any replica) and applies it to what it serves. Methods block and may
do I/O: call them from worker threads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from semsearch.replication.records import Record


@dataclass(frozen=True, slots=True)
class LoggedChange:
    sequence: int  # global, gap-free in the order of the log
    record: Record  # see records.change_record


@dataclass(frozen=True, slots=True)
class SharedSnapshot:
    """The state of every index as of ``sequence``, read in one transaction."""

    sequence: int
    log_id: str  # names this log: a position of another log resumes nothing here
    statuses: list[Record] = field(default_factory=list)  # records.status_record, one per index
    built_space: Record | None = None  # records.space_record of the recorded space


class SharedLog(Protocol):
    def append(self, record: Record, epoch: int) -> int | None:
        """Write the index's state and the change in one transaction, then notify; return its
        sequence. Fenced: written only while ``epoch`` is the lease's current epoch (None if not),
        so an indexer that lost its lease can never write over its successor."""
        ...

    def changes_after(self, sequence: int, limit: int = 500) -> list[LoggedChange] | None:
        """The changes after ``sequence``, oldest first; None when some of them are no longer kept."""
        ...

    def snapshot(self) -> SharedSnapshot: ...

    def record_built_space(self, space: Record, epoch: int) -> None:
        """Every index was rebuilt in ``space``: the space replicas and the next indexer start
        from (fenced like ``append``)."""
        ...

    def wait(self, timeout: float) -> None:
        """Block until a change may have been appended (a notification), or ``timeout`` seconds."""
        ...

    def report_replica(self, name: str, report: Record) -> int:
        """Record what this replica serves (a heartbeat); return the log's newest position."""
        ...

    def replicas(self, max_age_seconds: float) -> list[Record]:
        """The reports of the replicas heard from within ``max_age_seconds``."""
        ...

    def request_rebuild(self, indexes: list[str], reason: str) -> None:
        """Ask the indexer, whichever replica it is, to rebuild ``indexes`` (all when empty)."""
        ...

    def take_rebuild_requests(self) -> list[tuple[list[str], str]]:
        """The rebuild requests not yet taken, oldest first; taking them removes them."""
        ...

    def trim(self, keep: int) -> int:
        """Forget all but the newest ``keep`` changes; return how many went."""
        ...


class Lease(Protocol):
    """The indexer lease: held by one replica at a time, freed when its holder's connection ends."""

    def try_acquire(self, holder: str) -> int | None:
        """Take the lease for ``holder`` (this replica's name) if it is free: return the new epoch
        (one more than the last holder's), or None when another replica holds it."""
        ...

    def still_held(self) -> bool:
        """A cheap check that the lease is still ours (False once its connection is gone)."""
        ...

    def holder(self) -> tuple[str, int] | None:
        """Who holds the lease now (the name its holder gave, and its epoch); None when nobody does."""
        ...

    def release(self) -> None: ...
