"""The shared log and the indexer lease on PostgreSQL.

- The log is one table numbered by a head row that each append increments inside its
  transaction: positions are gap-free and commit in order (an append that fails takes its number
  back with it). Each append also updates the index's latest status and calls ``pg_notify``.
- Appends are fenced by the lease epoch: the append reads the lease row FOR SHARE and writes only
  if its epoch is still current, and a new holder's epoch increment waits for that read, so a
  deposed indexer can never write after its successor has taken over.
- The lease is a session advisory lock on a connection of its own: it frees itself when that
  connection ends (the process died, the network went), and its holder notices within a check.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo
from psycopg.rows import tuple_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from semsearch.replication.protocol import LoggedChange, SharedSnapshot
from semsearch.replication.records import Record

LEASE_KEY = 0x5E5E_1DE5  # the advisory lock of the indexer lease
SCHEMA_KEY = 0x5E5E_5C4E  # serialises schema creation between replicas starting together
EVENTS_CHANNEL = "semsearch_events"
# Dead peers are noticed by TCP within seconds, not the system's default of hours.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3}


def with_keepalives(dsn: str) -> str:
    return make_conninfo(dsn, **KEEPALIVES)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS semsearch_log_head (
    id int PRIMARY KEY CHECK (id = 1),
    last bigint NOT NULL,
    log_id text NOT NULL
);
CREATE TABLE IF NOT EXISTS semsearch_events (
    sequence bigint PRIMARY KEY,
    index_name text NOT NULL,
    record jsonb NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS semsearch_index_state (
    index_name text PRIMARY KEY,
    sequence bigint NOT NULL,
    status jsonb NOT NULL
);
CREATE TABLE IF NOT EXISTS semsearch_lease (
    id int PRIMARY KEY CHECK (id = 1),
    epoch bigint NOT NULL,
    holder text NOT NULL,
    since timestamptz NOT NULL DEFAULT now(),
    built_space jsonb
);
CREATE TABLE IF NOT EXISTS semsearch_rebuild_requests (
    id bigserial PRIMARY KEY,
    indexes jsonb NOT NULL,
    reason text NOT NULL,
    asked_at timestamptz NOT NULL DEFAULT now()
);
"""


def ensure_log_schema(dsn: str) -> None:
    """Create the log's tables once, whichever replica starts first (idempotent)."""
    with psycopg.connect(with_keepalives(dsn)) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_KEY,))
        conn.execute(_SCHEMA)
        conn.execute(
            "INSERT INTO semsearch_log_head (id, last, log_id) VALUES (1, 0, %s) ON CONFLICT (id) DO NOTHING",
            (uuid.uuid4().hex,),
        )
        conn.execute(
            "INSERT INTO semsearch_lease (id, epoch, holder) VALUES (1, 0, '') ON CONFLICT (id) DO NOTHING"
        )


class PostgresSharedLog:
    """``replication.protocol.SharedLog`` on PostgreSQL. Thread-safe (a pool; one listener)."""

    def __init__(self, dsn: str, pool_size: int = 4) -> None:
        self.dsn = with_keepalives(dsn)
        ensure_log_schema(dsn)
        self._pool = ConnectionPool(self.dsn, min_size=1, max_size=pool_size, open=True, name="semsearch-log")
        self._listener: psycopg.Connection[Any] | None = None
        self._listening = threading.Lock()

    def close(self) -> None:
        self._pool.close()
        with self._listening:
            if self._listener is not None:
                self._listener.close()
                self._listener = None

    # -- the indexer's writes --------------------------------------------------------------------
    def append(self, record: Record, epoch: int) -> int | None:
        with self._pool.connection() as conn, conn.transaction():
            if not self._fenced_in(conn, epoch):
                return None
            row = conn.execute(
                "UPDATE semsearch_log_head SET last = last + 1 WHERE id = 1 RETURNING last"
            ).fetchone()
            assert row is not None
            sequence = int(row[0])
            conn.execute(
                "INSERT INTO semsearch_events (sequence, index_name, record) VALUES (%s, %s, %s)",
                (sequence, record["index"], Jsonb(record)),
            )
            conn.execute(
                "INSERT INTO semsearch_index_state (index_name, sequence, status) VALUES (%s, %s, %s) "
                "ON CONFLICT (index_name) DO UPDATE "
                "SET sequence = excluded.sequence, status = excluded.status",
                (record["index"], sequence, Jsonb(record["status"])),
            )
            conn.execute("SELECT pg_notify(%s, %s)", (EVENTS_CHANNEL, str(sequence)))
        return sequence

    def record_built_space(self, space: Record, epoch: int) -> None:
        with self._pool.connection() as conn, conn.transaction():
            if self._fenced_in(conn, epoch):
                conn.execute("UPDATE semsearch_lease SET built_space = %s WHERE id = 1", (Jsonb(space),))

    @staticmethod
    def _fenced_in(conn: psycopg.Connection[Any], epoch: int) -> bool:
        # FOR SHARE: a new holder's epoch increment waits until this transaction ends.
        row = conn.execute("SELECT epoch FROM semsearch_lease WHERE id = 1 FOR SHARE").fetchone()
        return row is not None and int(row[0]) == epoch

    def trim(self, keep: int) -> int:
        with self._pool.connection() as conn, conn.transaction():
            done = conn.execute(
                "DELETE FROM semsearch_events WHERE sequence <= (SELECT last FROM semsearch_log_head) - %s",
                (keep,),
            )
            return done.rowcount

    # -- every replica's reads ---------------------------------------------------------------------
    def changes_after(self, sequence: int, limit: int = 500) -> list[LoggedChange] | None:
        with self._pool.connection() as conn:
            conn.row_factory = tuple_row
            rows = conn.execute(
                "SELECT sequence, record FROM semsearch_events WHERE sequence > %s "
                "ORDER BY sequence LIMIT %s",
                (sequence, limit),
            ).fetchall()
            # Positions commit in order (see append): a first one past ours means trimmed changes.
            if rows and int(rows[0][0]) != sequence + 1:
                return None
        return [LoggedChange(int(seq), dict(record)) for seq, record in rows]

    def snapshot(self) -> SharedSnapshot:
        with self._pool.connection() as conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            with conn.transaction():
                head = conn.execute("SELECT last, log_id FROM semsearch_log_head WHERE id = 1").fetchone()
                statuses = conn.execute(
                    "SELECT status FROM semsearch_index_state ORDER BY index_name"
                ).fetchall()
                space = conn.execute("SELECT built_space FROM semsearch_lease WHERE id = 1").fetchone()
            conn.isolation_level = None
        assert head is not None
        return SharedSnapshot(
            int(head[0]),
            str(head[1]),
            [dict(row[0]) for row in statuses],
            dict(space[0]) if space is not None and space[0] is not None else None,
        )

    def wait(self, timeout: float) -> None:
        with self._listening:
            if self._listener is None or self._listener.closed:
                self._listener = psycopg.connect(self.dsn, autocommit=True)
                self._listener.execute(f"LISTEN {EVENTS_CHANNEL}")
            listener = self._listener
            try:
                for _ in listener.notifies(timeout=timeout, stop_after=1):
                    pass
            except psycopg.Error:
                listener.close()
                self._listener = None
                raise

    # -- rebuild requests, from any replica to the indexer ----------------------------------------
    def request_rebuild(self, indexes: list[str], reason: str) -> None:
        with self._pool.connection() as conn, conn.transaction():
            conn.execute(
                "INSERT INTO semsearch_rebuild_requests (indexes, reason) VALUES (%s, %s)",
                (Jsonb(indexes), reason),
            )
            conn.execute("SELECT pg_notify(%s, 'request')", (EVENTS_CHANNEL,))

    def take_rebuild_requests(self) -> list[tuple[list[str], str]]:
        with self._pool.connection() as conn, conn.transaction():
            rows = conn.execute(
                "DELETE FROM semsearch_rebuild_requests RETURNING id, indexes, reason"
            ).fetchall()
        return [(list(indexes), str(reason)) for _, indexes, reason in sorted(rows)]


class PostgresLease:
    """``replication.protocol.Lease``: a session advisory lock on a connection of its own."""

    def __init__(self, dsn: str) -> None:
        self.dsn = with_keepalives(dsn)
        self._conn: psycopg.Connection[Any] | None = None  # holds the lock while we lead
        self._observer: psycopg.Connection[Any] | None = None  # asks who leads
        self._lock = threading.Lock()

    def try_acquire(self, holder: str) -> int | None:
        with self._lock:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self.dsn, autocommit=True)
            conn = self._conn
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (LEASE_KEY,)).fetchone()
            if row is None or not row[0]:
                return None
            with conn.transaction():
                bumped = conn.execute(
                    "UPDATE semsearch_lease SET epoch = epoch + 1, holder = %s, since = now() WHERE id = 1 "
                    "RETURNING epoch",
                    (holder,),
                ).fetchone()
            assert bumped is not None
            return int(bumped[0])

    def still_held(self) -> bool:
        with self._lock:
            conn = self._conn
            if conn is None or conn.closed:
                return False
            try:
                row = conn.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
                    "AND objid = %s AND granted",
                    (LEASE_KEY & 0xFFFF_FFFF,),
                ).fetchone()
            except psycopg.Error:
                conn.close()
                return False
            return row is not None and int(row[0]) > 0

    def holder(self) -> tuple[str, int] | None:
        with self._lock:
            if self._observer is None or self._observer.closed:
                self._observer = psycopg.connect(self.dsn, autocommit=True, connect_timeout=5)
            try:
                row = self._observer.execute(
                    "SELECT holder, epoch FROM semsearch_lease WHERE id = 1 AND EXISTS ("
                    "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = %s AND granted)",
                    (LEASE_KEY & 0xFFFF_FFFF,),
                ).fetchone()
            except psycopg.Error:
                self._observer.close()
                raise
        return (str(row[0]), int(row[1])) if row is not None else None

    def release(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            with contextlib.suppress(psycopg.Error):
                conn.execute("SELECT pg_advisory_unlock(%s)", (LEASE_KEY,))
            conn.close()

    def close(self) -> None:
        self.release()
        with self._lock:
            if self._observer is not None:
                self._observer.close()
                self._observer = None
