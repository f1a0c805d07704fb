"""What the replicas ask of PostgreSQL, read from PostgreSQL itself: their connections (sampled
while they work), the sessions they open while idle, the space a generation takes, and when a
generation was made current and announced.

This benchmark's own connections name themselves (``application_name``) and are left out.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any

import psycopg

BENCH = "semsearch-bench"
_REPLICA_CONNECTIONS = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
    " AND backend_type = 'client backend' AND application_name <> %s"
)
_SESSIONS = "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"


def _connect(dsn: str) -> psycopg.Connection[Any]:
    return psycopg.connect(dsn, autocommit=True, application_name=BENCH)


def _one(conn: psycopg.Connection[Any], query: str, *args: Any) -> Any:
    row = conn.execute(query, args or None).fetchone()
    if row is None:
        raise RuntimeError(f"no row for {query}")
    return row[0]


class ConnectionSampler:
    """Counts the replicas' connections every ``every`` seconds while the block runs."""

    def __init__(self, dsn: str, every: float = 0.1) -> None:
        self.dsn = dsn
        self.every = every
        self.most = 0
        self._conn: psycopg.Connection[Any] | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._sample, name="bench-connections", daemon=True)

    async def __aenter__(self) -> ConnectionSampler:
        self._conn = await asyncio.to_thread(_connect, self.dsn)
        self._thread.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        self._stop.set()
        await asyncio.to_thread(self._thread.join)
        if self._conn is not None:
            self._conn.close()

    def _query(self, query: str, *args: Any) -> int:
        assert self._conn is not None
        with self._lock:
            return int(_one(self._conn, query, *args))

    def _sample(self) -> None:
        while not self._stop.wait(self.every):
            self.most = max(self.most, self._query(_REPLICA_CONNECTIONS, BENCH))

    async def sessions_opened(self, seconds: float) -> float:
        """Sessions opened on the database per second over ``seconds`` (nothing else asked of it)."""
        before = await asyncio.to_thread(self._query, _SESSIONS)
        await asyncio.sleep(seconds)
        after = await asyncio.to_thread(self._query, _SESSIONS)
        return (after - before) / seconds


def swap_times(dsn: str, index: str, generation: int) -> tuple[float, float]:
    """When ``generation`` was made current (the make_current transaction) and when the READY event
    that announces it was written to the shared log: unix seconds, PostgreSQL's clock."""
    with _connect(dsn) as conn:
        committed = _one(
            conn,
            "SELECT extract(epoch FROM changed_at)::float8 FROM current_generations"
            " WHERE index_name = %s AND generation = %s",
            index,
            generation,
        )
        logged = _one(
            conn,
            "SELECT extract(epoch FROM recorded_at)::float8 FROM events WHERE index_name = %s"
            " AND event->>'state' = 'READY' AND (event->'status'->>'generation')::int = %s"
            " ORDER BY sequence LIMIT 1",
            index,
            generation,
        )
    return float(committed), float(logged)


@dataclass
class DatabaseFigures:
    chunks: int  # of the current generation
    chunk_row_bytes: int  # its rows in generation_chunks (text, metadata, vector), without pages
    generation_bytes: int  # generation_chunks + generation_documents with indexes, after VACUUM FULL
    cache_rows: int
    cache_bytes: int  # cache_vectors with its index, after VACUUM FULL
    events: int  # rows of the shared log
    events_bytes: int  # the table with its indexes (pages: a few rows still fill some)
    event_bytes: float  # one event as stored (compressed jsonb), on average
    database_bytes_before: int  # the whole database as the rounds left it (dead rows included)
    database_bytes: int  # after VACUUM FULL


def database_figures(dsn: str, index: str) -> DatabaseFigures:
    with _connect(dsn) as conn:
        before = int(_one(conn, "SELECT pg_database_size(current_database())"))
        conn.execute("VACUUM FULL generation_chunks, generation_documents, cache_vectors, events")
        chunks, row_bytes = conn.execute(
            "SELECT count(*), coalesce(sum(pg_column_size(c.*)), 0) FROM generation_chunks c"
            " JOIN current_generations g ON g.index_name = c.index_name AND g.generation = c.generation"
            " WHERE c.index_name = %s",
            (index,),
        ).fetchone() or (0, 0)
        size = "SELECT pg_total_relation_size(%s::regclass)"
        return DatabaseFigures(
            int(chunks),
            int(row_bytes),
            int(_one(conn, size, "generation_chunks")) + int(_one(conn, size, "generation_documents")),
            int(_one(conn, "SELECT count(*) FROM cache_vectors")),
            int(_one(conn, size, "cache_vectors")),
            int(_one(conn, "SELECT count(*) FROM events")),
            int(_one(conn, size, "events")),
            float(_one(conn, "SELECT coalesce(avg(pg_column_size(event)), 0) FROM events")),
            before,
            int(_one(conn, "SELECT pg_database_size(current_database())")),
        )
