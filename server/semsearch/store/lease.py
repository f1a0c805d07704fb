"""The indexer lease: a session advisory lock on a connection of its own.

One replica at a time holds it and runs the watcher, rebuilds and migrations. PostgreSQL frees a
session lock when its session ends, so a holder that dies (or whose connection drops) loses the
lease at once and another replica can take it. Each acquisition bumps the lease's *epoch*;
``EventLog.record_state(..., epoch=...)`` refuses writes from an older epoch, so a holder that lost
the lease without noticing yet cannot write over its successor.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from semsearch.store.schema import LEASE_LOCK, LOCK_SPACE

CONNECT_TIMEOUT_SECONDS = 10
# A peer gone without a word (machine off, network cut) is noticed by TCP keepalives within
# about idle + interval x count seconds; until then it still holds the lease.
# A peer that vanished is noticed in seconds; a send that cannot get through fails in 10 s instead
# of the kernel's ~15 minutes (tcp_user_timeout, milliseconds).
_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,
}
_HELD_BY_ANYONE = (
    "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = %s AND objid = %s AND objsubid = 2"
    " AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


class IndexerLease:
    """Thread-safe. ``close`` releases the lease and its connection."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: psycopg.Connection[Any] | None = None
        self._epoch: int | None = None
        self._lock = threading.Lock()
        self._observer: psycopg.Connection[Any] | None = None  # asks who holds the lease
        self._observing = threading.Lock()

    @property
    def epoch(self) -> int | None:
        """The epoch of our hold, or None when we have not taken the lease (or let it go)."""
        return self._epoch

    def try_acquire(self, holder: str) -> int | None:
        """Take the lease for ``holder`` (this replica's name) if nobody holds it; return the new
        epoch (one more than the previous holder's), or None when another session holds it.
        Raises psycopg.Error when the database cannot be reached."""
        with self._lock:
            if self._epoch is not None and self._still_held():
                return self._epoch
            conn = self._connection()
            row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (LOCK_SPACE, LEASE_LOCK)).fetchone()
            if row is None or not row[0]:
                return None
            bumped = conn.execute(
                "UPDATE indexer_lease SET epoch = epoch + 1, holder = %s, acquired_at = now()"
                " RETURNING epoch",
                (holder,),
            ).fetchone()
            assert bumped is not None
            self._epoch = int(bumped[0])
            return self._epoch

    def still_held(self) -> bool:
        """Whether we hold the lease: one query on our connection; False once that connection is
        gone (the lock went with it)."""
        with self._lock:
            return self._still_held()

    def holder(self) -> tuple[str, int] | None:
        """Who holds the lease now (the name it gave, and its epoch); None when nobody does. Asked
        every poll by each follower: on a connection kept for it, not a new one each time."""
        with self._observing:
            if self._observer is None or self._observer.closed:
                self._observer = psycopg.connect(
                    make_conninfo(self._dsn, **_KEEPALIVES),
                    autocommit=True,
                    connect_timeout=CONNECT_TIMEOUT_SECONDS,
                )
            try:
                row = self._observer.execute(
                    f"SELECT holder, epoch FROM indexer_lease WHERE EXISTS ({_HELD_BY_ANYONE})",
                    (LOCK_SPACE, LEASE_LOCK),
                ).fetchone()
            except psycopg.Error:
                self._observer.close()
                self._observer = None
                raise
        return None if row is None else (str(row[0]), int(row[1]))

    def release(self) -> None:
        """Let the lease go (closing our connection frees the lock even if the unlock cannot be sent)."""
        with self._lock:
            self._epoch = None
            conn, self._conn = self._conn, None
            if conn is not None:
                with contextlib.suppress(psycopg.Error):
                    conn.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_SPACE, LEASE_LOCK))
                conn.close()

    def close(self) -> None:
        self.release()
        with self._observing:
            if self._observer is not None:
                self._observer.close()
                self._observer = None

    def _still_held(self) -> bool:
        if self._conn is None or self._epoch is None:
            return False
        try:
            row = self._conn.execute(
                f"{_HELD_BY_ANYONE} AND pid = pg_backend_pid()", (LOCK_SPACE, LEASE_LOCK)
            ).fetchone()
        except psycopg.Error:
            self._drop()
            return False
        if row is None:
            self._epoch = None
        return row is not None

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(
                make_conninfo(self._dsn, **_KEEPALIVES),
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
            )
        return self._conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self._epoch = None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()
