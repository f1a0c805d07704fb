"""The PostgreSQL schema, as numbered migrations applied at start.

Every process that opens the store runs ``migrate``: under a transaction-level advisory lock (so
replicas starting together apply each migration once), it applies the migrations newer than the
``schema_version`` table records, all in one transaction (DDL is transactional in PostgreSQL).
Applying twice is a no-op. A database whose schema is newer than this code knows is refused:
an older replica must not write into a layout it does not understand.

Append a migration to change the schema; never edit one that has shipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

# Advisory lock keys: (LOCK_SPACE, one of the keys below), the two-int form, which shows in
# pg_locks as classid = LOCK_SPACE, objid = key, objsubid = 2.
LOCK_SPACE = 0x5E5E  # "semsearch"
MIGRATION_LOCK = 1
LEASE_LOCK = 2
EVENT_LOG_LOCK = 3
CACHE_SPACES_LOCK = 4

GENERATIONS_CHANNEL = "semsearch_generations"  # payload: {"index": ..., "generation": ...}
EVENTS_CHANNEL = "semsearch_events"  # payload: the event's sequence number


class SchemaError(RuntimeError):
    """The database cannot hold semsearch's schema (too new, or the vector extension is missing)."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    statements: str


_FIRST = """
CREATE EXTENSION IF NOT EXISTS vector;

-- One build of one index: its embedding space and how many chunks it has.
CREATE TABLE generations (
    index_name text NOT NULL,
    number integer NOT NULL,
    model text NOT NULL,
    dimensions integer NOT NULL CHECK (dimensions > 0),
    fingerprint double precision[] NOT NULL,
    query_fingerprint double precision[] NOT NULL,
    chunk_count integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (index_name, number)
);

-- The documents of a generation, in order, so that they read back exactly as they were put.
CREATE TABLE generation_documents (
    index_name text NOT NULL,
    generation integer NOT NULL,
    position integer NOT NULL,
    id text NOT NULL,
    title text NOT NULL,
    source text NOT NULL,
    metadata jsonb NOT NULL,
    PRIMARY KEY (index_name, generation, position),
    FOREIGN KEY (index_name, generation) REFERENCES generations (index_name, number)
);

-- Its chunks: row_number is the row of the chunk's vector; the vector's length is the
-- generation's dimensions (a column without a fixed length holds every generation's).
CREATE TABLE generation_chunks (
    index_name text NOT NULL,
    generation integer NOT NULL,
    row_number integer NOT NULL,
    document_position integer NOT NULL,
    id text NOT NULL,
    document_id text NOT NULL,
    title text NOT NULL,
    section text NOT NULL,
    text text NOT NULL,
    body text NOT NULL,
    source text NOT NULL,
    metadata jsonb NOT NULL,
    embedding vector NOT NULL,
    PRIMARY KEY (index_name, generation, row_number),
    FOREIGN KEY (index_name, generation) REFERENCES generations (index_name, number)
);

-- The generation each index serves: switched by updating this row, never by DDL, so readers
-- never wait and see either the old generation or the new one.
CREATE TABLE current_generations (
    index_name text PRIMARY KEY,
    generation integer NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (index_name, generation) REFERENCES generations (index_name, number)
);

-- The embedding cache, keyed like the SQLite one: the space (model, dimensions, fingerprint,
-- matched within tolerance), the task, the sha256 of the text.
CREATE TABLE cache_spaces (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model text NOT NULL,
    dimensions integer NOT NULL,
    fingerprint double precision[] NOT NULL,
    last_used timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cache_spaces_by_model ON cache_spaces (model, dimensions);
CREATE TABLE cache_vectors (
    space_id bigint NOT NULL REFERENCES cache_spaces (id) ON DELETE CASCADE,
    task text NOT NULL,
    sha256 bytea NOT NULL,
    embedding vector NOT NULL,
    PRIMARY KEY (space_id, task, sha256)
);

-- The lifecycle state of every index, and the event that set it.
CREATE TABLE index_states (
    index_name text PRIMARY KEY,
    state text NOT NULL,
    since timestamptz NOT NULL,
    last_error text NOT NULL,
    progress jsonb,
    sequence bigint NOT NULL,
    last_event jsonb NOT NULL
);

-- Every state change, in one global order. Writers hold EVENT_LOG_LOCK from taking a number to
-- committing, so numbers commit in order: a reader that has seen n has seen everything below n.
CREATE TABLE events (
    sequence bigserial PRIMARY KEY,
    index_name text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    event jsonb NOT NULL
);
-- The newest sequence trimmed away: asking for what came after an older one finds a gap.
CREATE TABLE event_log_horizon (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    trimmed_through bigint NOT NULL
);
INSERT INTO event_log_horizon (trimmed_through) VALUES (0);

-- Who took the indexer lease last, and how often it changed hands (the epoch fences writes of
-- a holder that lost it). Whether it is held now is the advisory lock's business.
CREATE TABLE indexer_lease (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    epoch bigint NOT NULL,
    holder text NOT NULL,
    acquired_at timestamptz
);
INSERT INTO indexer_lease (epoch, holder) VALUES (0, '');
"""

# What several replicas share besides the log: which log this is (a resume position of another
# log resumes nothing), the space every index was last rebuilt in, each replica's heartbeat, and
# rebuild requests made on any replica for the indexer.
_REPLICAS = """
CREATE TABLE log_identity (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    log_id text NOT NULL
);
INSERT INTO log_identity (log_id) VALUES (replace(gen_random_uuid()::text, '-', ''));
ALTER TABLE indexer_lease ADD COLUMN built_space jsonb;
CREATE TABLE replicas (
    name text PRIMARY KEY,
    report jsonb NOT NULL,
    seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE rebuild_requests (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    indexes jsonb NOT NULL,
    reason text NOT NULL,
    asked_at timestamptz NOT NULL DEFAULT now()
);
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "generations, embedding cache, index state, event log, indexer lease", _FIRST),
    Migration(2, "log identity, recorded space, replica heartbeats, rebuild requests", _REPLICAS),
)


def migrate(conn: psycopg.Connection[Any]) -> list[int]:
    """Bring the schema up to date in one transaction; return the versions applied now."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_SPACE, MIGRATION_LOCK))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version integer PRIMARY KEY, description text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        current = current_version(conn)
        newest = MIGRATIONS[-1].version
        if current > newest:
            raise SchemaError(
                f"the database schema is at version {current}, newer than this semsearch knows "
                f"({newest}): upgrade semsearch"
            )
        applied = []
        for migration in MIGRATIONS:
            if migration.version <= current:
                continue
            try:
                conn.execute(migration.statements)
            except psycopg.errors.InsufficientPrivilege as exc:
                raise SchemaError(
                    f"migration {migration.version} needs a privilege the role lacks ({_first_line(exc)}); "
                    "if it is the vector extension, have a superuser run CREATE EXTENSION vector "
                    "in this database"
                ) from None
            conn.execute(
                "INSERT INTO schema_version (version, description) VALUES (%s, %s)",
                (migration.version, migration.description),
            )
            applied.append(migration.version)
        return applied


def current_version(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
