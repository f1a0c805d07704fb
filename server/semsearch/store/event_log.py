"""Index state and the event log in PostgreSQL: every state change is written with its event in
one transaction, then announced on ``semsearch_events``, so every replica reads the same changes
in the same global order (what WatchIndexes streams on any of them).

Sequence numbers increase in commit order: writers hold an advisory lock from taking a number to
committing, so a reader that has seen event n has seen every event before it. Numbers may skip
(a write rolled back), events are never missed. ``trim_events`` forgets old events; asking for the
events after one that is gone answers None, and the reader starts again from a ``snapshot``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from semsearch.store.listener import Listener
from semsearch.store.schema import EVENT_LOG_LOCK, EVENTS_CHANNEL, LOCK_SPACE

Payload = Mapping[str, Any]  # anything JSON can hold


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    sequence: int
    index: str
    recorded_at: float  # unix time
    event: dict[str, Any]


@dataclass(frozen=True, slots=True)
class IndexStateRow:
    index: str
    state: str
    since: float  # unix time
    last_error: str
    progress: dict[str, Any] | None
    sequence: int  # the event that set this state
    event: dict[str, Any]  # and that event


@dataclass(frozen=True, slots=True)
class StateSnapshot:
    """Every index's state as of ``sequence`` (read in one transaction)."""

    sequence: int
    states: list[IndexStateRow]


def write_event(conn: psycopg.Connection[Any], index: str, payload: Payload) -> int:
    """Append an event inside the caller's transaction and announce it at commit; return its
    sequence. The caller writes the state change it records in the same transaction."""
    conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_SPACE, EVENT_LOG_LOCK))
    row = conn.execute(
        "INSERT INTO events (index_name, event) VALUES (%s, %s) RETURNING sequence", (index, Jsonb(payload))
    ).fetchone()
    assert row is not None
    sequence = int(row[0])
    conn.execute("SELECT pg_notify(%s, %s)", (EVENTS_CHANNEL, str(sequence)))
    return sequence


class EventLog:
    """Thread-safe. ``wait_for_events`` uses a listening connection of its own."""

    def __init__(self, pool: ConnectionPool, dsn: str) -> None:
        self._pool = pool
        self._dsn = dsn
        self._listener: Listener | None = None
        self._listening = threading.Lock()

    def record_state(
        self,
        index: str,
        state: str,
        since: float,
        last_error: str,
        progress: Payload | None,
        event: Payload,
        *,
        epoch: int | None = None,
    ) -> int | None:
        """Write ``index``'s state and ``event`` in one transaction; return the event's sequence.
        With ``epoch`` (the indexer lease's), nothing is written and None is returned unless that
        epoch is still the lease's: a holder that lost the lease cannot overwrite its successor."""
        with self._pool.connection() as conn:
            if epoch is not None:
                # FOR SHARE: a new holder's epoch bump waits for this write, and this write for it.
                row = conn.execute("SELECT epoch FROM indexer_lease FOR SHARE").fetchone()
                if row is None or int(row[0]) != epoch:
                    return None
            sequence = write_event(conn, index, event)
            conn.execute(
                "INSERT INTO index_states (index_name, state, since, last_error, progress, sequence,"
                " last_event) VALUES (%s, %s, to_timestamp(%s), %s, %s, %s, %s)"
                " ON CONFLICT (index_name) DO UPDATE SET state = EXCLUDED.state, since = EXCLUDED.since,"
                " last_error = EXCLUDED.last_error, progress = EXCLUDED.progress,"
                " sequence = EXCLUDED.sequence, last_event = EXCLUDED.last_event",
                (
                    index,
                    state,
                    since,
                    last_error,
                    None if progress is None else Jsonb(progress),
                    sequence,
                    Jsonb(event),
                ),
            )
        return sequence

    def events_after(self, sequence: int, limit: int = 500) -> list[LoggedEvent] | None:
        """Up to ``limit`` events after ``sequence``, oldest first; None when some of the events
        after it were trimmed (start again from ``snapshot``)."""
        with self._pool.connection() as conn:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            if sequence < _trimmed_through(conn):
                return None
            rows = conn.execute(
                "SELECT sequence, index_name, extract(epoch FROM recorded_at)::float8, event FROM events"
                " WHERE sequence > %s ORDER BY sequence LIMIT %s",
                (sequence, limit),
            ).fetchall()
        return [LoggedEvent(int(s), index, when, event) for s, index, when, event in rows]

    def latest_sequence(self) -> int:
        """The newest event's sequence (0 before the first)."""
        with self._pool.connection() as conn:
            return _latest(conn)

    def snapshot(self) -> StateSnapshot:
        with self._pool.connection() as conn:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            return self.snapshot_in(conn)

    @staticmethod
    def snapshot_in(conn: psycopg.Connection[Any]) -> StateSnapshot:
        """The snapshot, read in the caller's (repeatable read) transaction."""
        latest = _latest(conn)
        rows = conn.execute(
            "SELECT index_name, state, extract(epoch FROM since)::float8, last_error, progress,"
            " sequence, last_event FROM index_states ORDER BY index_name"
        ).fetchall()
        return StateSnapshot(latest, [IndexStateRow(*row) for row in rows])

    def trim_events(self, keep: int) -> int:
        """Forget all but the newest ``keep`` events; return how many went."""
        with self._pool.connection() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_SPACE, EVENT_LOG_LOCK))
            cutoff = _latest(conn) - keep
            if cutoff <= _trimmed_through(conn):
                return 0
            deleted = conn.execute("DELETE FROM events WHERE sequence <= %s", (cutoff,)).rowcount
            conn.execute("UPDATE event_log_horizon SET trimmed_through = %s", (cutoff,))
        return deleted

    def wait_for_events(self, timeout: float) -> bool:
        """Block until an event is announced (True) or ``timeout`` seconds pass (False). Listening
        starts with the first call; from then on an event announced between calls is not lost (the
        next call returns at once). Read ``events_after`` either way: this only saves polling."""
        with self._listening:
            if self._listener is None:
                self._listener = Listener(self._dsn, [EVENTS_CHANNEL])
            try:
                return bool(self._listener.wait(timeout))
            except psycopg.Error:
                self._listener.close()  # the next call listens on a new connection
                self._listener = None
                raise

    def close(self) -> None:
        with self._listening:
            if self._listener is not None:
                self._listener.close()
                self._listener = None


def _latest(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(
        "SELECT greatest(coalesce(max(sequence), 0), (SELECT trimmed_through FROM event_log_horizon))"
        " FROM events"
    ).fetchone()
    return int(row[0]) if row else 0


def _trimmed_through(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT trimmed_through FROM event_log_horizon").fetchone()
    return int(row[0]) if row else 0
