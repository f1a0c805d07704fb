"""The shared log on PostgreSQL: the store's event log and index states (``store.event_log``),
plus what only replicas need — the log's identity, the recorded space, heartbeats and rebuild
requests (schema migration 2). The indexer lease is ``store.lease.IndexerLease``."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from semsearch.replication.protocol import LoggedChange, SharedSnapshot
from semsearch.replication.records import Record
from semsearch.store.postgres import PostgresStore
from semsearch.store.schema import EVENTS_CHANNEL


class PostgresSharedLog:
    """``replication.protocol.SharedLog`` in the store's database. Thread-safe."""

    def __init__(self, store: PostgresStore) -> None:
        self._events = store.events
        self._pool = store.pool

    def append(self, record: Record, epoch: int) -> int | None:
        status = record["status"]
        return self._events.record_state(
            record["index"],
            status["state"],
            status["state_since"],
            status["last_error"],
            status["progress"],
            record,
            epoch=epoch,
        )

    def changes_after(self, sequence: int, limit: int = 500) -> list[LoggedChange] | None:
        events = self._events.events_after(sequence, limit)
        if events is None:
            return None
        return [LoggedChange(e.sequence, e.event) for e in events]

    def snapshot(self) -> SharedSnapshot:
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            states = self._events.snapshot_in(conn)
            identity = conn.execute("SELECT log_id FROM log_identity").fetchone()
            space = conn.execute("SELECT built_space FROM indexer_lease").fetchone()
        assert identity is not None
        return SharedSnapshot(
            states.sequence,
            str(identity[0]),
            [dict(row.event["status"]) for row in states.states],
            dict(space[0]) if space is not None and space[0] is not None else None,
        )

    def record_built_space(self, space: Record, epoch: int) -> None:
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("UPDATE indexer_lease SET built_space = %s WHERE epoch = %s", (Jsonb(space), epoch))

    def wait(self, timeout: float) -> None:
        self._events.wait_for_events(timeout)

    def trim(self, keep: int) -> int:
        return self._events.trim_events(keep)

    def report_replica(self, name: str, report: Record) -> int:
        with self._pool.connection() as conn, conn.transaction():
            conn.execute(
                "INSERT INTO replicas (name, report, seen_at) VALUES (%s, %s, now()) "
                "ON CONFLICT (name) DO UPDATE SET report = excluded.report, seen_at = now()",
                (name, Jsonb(report)),
            )
        return self._events.latest_sequence()

    def replicas(self, max_age_seconds: float) -> list[Record]:
        with self._pool.connection() as conn, conn.transaction():
            # Long gone replicas are forgotten; recently quiet ones are only left out.
            conn.execute(
                "DELETE FROM replicas WHERE seen_at < now() - make_interval(secs => %s)",
                (max_age_seconds * 10,),
            )
            rows: list[Any] = conn.execute(
                "SELECT report, extract(epoch FROM seen_at)::float8 FROM replicas "
                "WHERE seen_at >= now() - make_interval(secs => %s) ORDER BY name",
                (max_age_seconds,),
            ).fetchall()
        return [{**dict(report), "seen_at": float(seen)} for report, seen in rows]

    def request_rebuild(self, indexes: list[str], reason: str) -> None:
        with self._pool.connection() as conn, conn.transaction():
            conn.execute(
                "INSERT INTO rebuild_requests (indexes, reason) VALUES (%s, %s)", (Jsonb(indexes), reason)
            )
            conn.execute("SELECT pg_notify(%s, 'request')", (EVENTS_CHANNEL,))

    def take_rebuild_requests(self) -> list[tuple[list[str], str]]:
        with self._pool.connection() as conn, conn.transaction():
            rows = conn.execute("DELETE FROM rebuild_requests RETURNING id, indexes, reason").fetchall()
        return [(list(indexes), str(reason)) for _, indexes, reason in sorted(rows)]
