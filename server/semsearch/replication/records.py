"""State changes as plain JSON-able records, so that every replica reads the same log.

The shared event log holds one record per change, written by the indexer; each replica turns the
records back into ``StateChange``s with the log's global sequence number.
"""

from __future__ import annotations

from typing import Any

from semsearch.embeddings.space import EmbeddingSpace
from semsearch.lifecycle.events import StateChange
from semsearch.lifecycle.migration_status import MigrationPhase, MigrationStatus
from semsearch.lifecycle.slot import IndexStatus, Progress, Shadow
from semsearch.lifecycle.state import IndexState

Record = dict[str, Any]


def space_record(space: EmbeddingSpace) -> Record:
    return {
        "model": space.model,
        "dimensions": space.dimensions,
        "fingerprint": list(space.fingerprint),
        "query_fingerprint": list(space.query_fingerprint),
    }


def space_of(record: Record) -> EmbeddingSpace:
    return EmbeddingSpace(
        str(record["model"]),
        int(record["dimensions"]),
        tuple(float(x) for x in record.get("fingerprint", ())),
        tuple(float(x) for x in record.get("query_fingerprint", ())),
    )


def _progress_record(progress: Progress) -> Record:
    return {
        "done": progress.done,
        "total": progress.total,
        "cached": progress.cached,
        "rate": progress.rate,
        "seconds_left": progress.seconds_left,
    }


def _progress_of(record: Record) -> Progress:
    left = record.get("seconds_left")
    return Progress(
        int(record["done"]),
        int(record["total"]),
        int(record.get("cached", 0)),
        float(record.get("rate", 0.0)),
        float(left) if left is not None else None,
    )


def status_record(status: IndexStatus) -> Record:
    shadow = status.shadow
    return {
        "name": status.name,
        "kind": status.kind,
        "state": status.state.value,
        "space": space_record(status.space) if status.space is not None else None,
        "document_count": status.document_count,
        "chunk_count": status.chunk_count,
        "generation": status.generation,
        "state_since": status.state_since,
        "last_error": status.last_error,
        "progress": _progress_record(status.progress) if status.progress is not None else None,
        "shadow": None
        if shadow is None
        else {
            "space": space_record(shadow.space),
            "generation": shadow.generation,
            "progress": _progress_record(shadow.progress),
            "built": shadow.built,
        },
    }


def status_of(record: Record) -> IndexStatus:
    """The status a record describes; it holds no vectors (``index`` is None): a replica serves its own."""
    shadow = record.get("shadow")
    return IndexStatus(
        name=str(record["name"]),
        kind=str(record["kind"]),
        state=IndexState(record["state"]),
        index=None,
        space=space_of(record["space"]) if record.get("space") else None,
        document_count=int(record["document_count"]),
        chunk_count=int(record["chunk_count"]),
        generation=int(record["generation"]),
        state_since=float(record["state_since"]),
        last_error=str(record.get("last_error", "")),
        progress=_progress_of(record["progress"]) if record.get("progress") else None,
        shadow=None
        if not shadow
        else Shadow(
            space_of(shadow["space"]),
            int(shadow["generation"]),
            _progress_of(shadow["progress"]),
            bool(shadow["built"]),
        ),
    )


def migration_record(status: MigrationStatus) -> Record:
    return {
        "phase": status.phase.value,
        "source_model": status.source_model,
        "target_model": status.target_model,
        "target_space": space_record(status.target_space),
        "reason": status.reason,
        "progress": _progress_record(status.progress),
        "indexes_built": status.indexes_built,
        "indexes_total": status.indexes_total,
        "started_at": status.started_at,
        "finished_at": status.finished_at,
        "error": status.error,
    }


def migration_of(record: Record) -> MigrationStatus:
    finished = record.get("finished_at")
    return MigrationStatus(
        MigrationPhase(record["phase"]),
        str(record["source_model"]),
        str(record["target_model"]),
        space_of(record["target_space"]),
        str(record["reason"]),
        _progress_of(record["progress"]),
        int(record["indexes_built"]),
        int(record["indexes_total"]),
        float(record["started_at"]),
        float(finished) if finished is not None else None,
        str(record.get("error", "")),
    )


def change_record(change: StateChange) -> Record:
    """Everything of a change but its sequence number, which the log assigns."""
    return {
        "index": change.index,
        "previous": change.previous.value,
        "state": change.state.value,
        "reason": change.reason,
        "time": change.time,
        "step_remaining": change.step_remaining,
        "status": status_record(change.status),
        "migration": migration_record(change.migration) if change.migration is not None else None,
    }


def change_of(sequence: int, record: Record) -> StateChange:
    migration = record.get("migration")
    return StateChange(
        sequence,
        str(record["index"]),
        IndexState(record["previous"]),
        IndexState(record["state"]),
        str(record["reason"]),
        status_of(record["status"]),
        float(record["time"]),
        migration_of(migration) if migration else None,
        int(record.get("step_remaining", 0)),
    )
