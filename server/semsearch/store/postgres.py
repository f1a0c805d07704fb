"""The shared store: generations, the current one of each index and the embedding cache in
PostgreSQL (with pgvector), for several replicas.

Each put is one transaction (the chunks and vectors go in by binary COPY); ``make_current`` updates
the index's pointer row and notifies ``semsearch_generations`` in one transaction, so a replica
reads either the old generation or the new one, never a mix. Thread-safe: every call takes a
connection from a pool and gives it back; call it from worker threads, never the event loop.

The event log (``events``) and the indexer lease (``lease``) share this store's database.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg.abc import Buffer
from psycopg.adapt import Loader
from psycopg.pq import Format
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from semsearch.corpus import Chunk, Document
from semsearch.embeddings.space import EmbeddingSpace
from semsearch.store.embedded import EmbeddedPostgres
from semsearch.store.event_log import EventLog
from semsearch.store.lease import IndexerLease
from semsearch.store.postgres_cache import PostgresVectorCache
from semsearch.store.protocol import GenerationNotFound, GenerationRecord, StoredGeneration
from semsearch.store.schema import GENERATIONS_CHANNEL, SchemaError, migrate

CONNECT_TIMEOUT_SECONDS = 10
POOL_WAIT_SECONDS = 10  # how long a call waits for a connection (all busy, or the database away)

_DOCUMENT_COLUMNS = "index_name, generation, position, id, title, source, metadata"
_DOCUMENT_TYPES = ["text", "int4", "int4", "text", "text", "text", "jsonb"]
_CHUNK_COLUMNS = (
    "index_name, generation, row_number, document_position, id, document_id, title, section, "
    "text, body, source, metadata, embedding"
)
_CHUNK_TEXT_TYPES = ["text"] * 7  # id .. source


class GenerationFenced(RuntimeError):
    """A write of the current generation by a replica that no longer holds the indexer lease."""


class StoreUnavailable(RuntimeError):
    """The database cannot be used: a bad connection string, unreachable, or a schema it cannot
    hold. One line, without the password."""


class PostgresStore:
    """A ``GenerationStore`` over a pool of connections to one PostgreSQL database."""

    def __init__(self, dsn: str, pool: ConnectionPool, keep_spaces: int, embedded: EmbeddedPostgres | None):
        self.dsn = dsn
        self._pool = pool
        self.pool = pool  # shared with the replication log, which keeps its tables in this database
        # Set by a replica: the epoch of the indexer lease it holds (None: it holds none).
        self.fencing: Callable[[], int | None] | None = None
        self._embedded = embedded
        self._cache = PostgresVectorCache(pool, keep_spaces)
        self.events = EventLog(pool, dsn)

    @classmethod
    def open(
        cls,
        dsn: str,
        *,
        pool_size: int = 4,
        keep_spaces: int = 3,
        embedded: EmbeddedPostgres | None = None,
    ) -> PostgresStore:
        """Connect, bring the schema up to date, open the pool. StoreUnavailable when the database
        cannot be reached or used; ``embedded`` (already started) is stopped by ``close``."""
        try:
            with psycopg.connect(dsn, connect_timeout=CONNECT_TIMEOUT_SECONDS) as conn:
                migrate(conn)
        except psycopg.errors.InsufficientPrivilege as exc:  # a ProgrammingError too: test it first
            raise StoreUnavailable(f"the role lacks a privilege the schema needs: {_one_line(exc)}") from None
        except psycopg.ProgrammingError as exc:  # libpq could not parse the string
            raise StoreUnavailable(f"invalid connection string: {_one_line(exc)}") from None
        except psycopg.Error as exc:
            raise StoreUnavailable(f"cannot use the database: {_one_line(exc)}") from None
        except SchemaError as exc:
            raise StoreUnavailable(str(exc)) from None
        pool = ConnectionPool(
            dsn,
            min_size=1,
            max_size=pool_size,
            timeout=POOL_WAIT_SECONDS,
            kwargs={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
            configure=_configure,
            check=ConnectionPool.check_connection,  # a server restart costs one reconnect, not an error
            name="semsearch-store",
            open=False,
        )
        try:
            pool.open(wait=True, timeout=CONNECT_TIMEOUT_SECONDS)
        except psycopg.Error as exc:
            pool.close()
            raise StoreUnavailable(f"cannot open connections to the database: {_one_line(exc)}") from None
        return cls(dsn, pool, keep_spaces, embedded)

    @property
    def cache(self) -> PostgresVectorCache:
        return self._cache

    def lease(self) -> IndexerLease:
        """A new handle on the indexer lease, with a connection of its own (see ``IndexerLease``)."""
        return IndexerLease(self.dsn)

    # -- generations -----------------------------------------------------------------------
    def put_generation(
        self,
        index: str,
        number: int,
        space: EmbeddingSpace,
        documents: Sequence[Document],
        vectors: np.ndarray,
    ) -> None:
        generation = StoredGeneration(index, number, space, tuple(documents), vectors)  # checks the shapes
        rows = np.ascontiguousarray(vectors, dtype=np.float32)
        with self._pool.connection() as conn:
            conn.execute(
                "INSERT INTO generations (index_name, number, model, dimensions, fingerprint,"
                " query_fingerprint, chunk_count) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (index_name, number) DO UPDATE SET model = EXCLUDED.model,"
                " dimensions = EXCLUDED.dimensions, fingerprint = EXCLUDED.fingerprint,"
                " query_fingerprint = EXCLUDED.query_fingerprint, chunk_count = EXCLUDED.chunk_count,"
                " created_at = now()",
                (
                    index,
                    number,
                    space.model,
                    space.dimensions,
                    list(space.fingerprint),
                    list(space.query_fingerprint),
                    len(generation.chunks),
                ),
            )
            for table in ("generation_chunks", "generation_documents"):  # putting again replaces
                conn.execute(
                    f"DELETE FROM {table} WHERE index_name = %s AND generation = %s",
                    (index, number),
                )
            with conn.cursor() as cur:
                with cur.copy(
                    f"COPY generation_documents ({_DOCUMENT_COLUMNS}) FROM STDIN (FORMAT BINARY)"
                ) as copy:
                    copy.set_types(_DOCUMENT_TYPES)
                    for position, document in enumerate(documents):
                        copy.write_row(
                            (
                                index,
                                number,
                                position,
                                document.id,
                                document.title,
                                document.source,
                                Jsonb(dict(document.metadata)),
                            )
                        )
                with cur.copy(
                    f"COPY generation_chunks ({_CHUNK_COLUMNS}) FROM STDIN (FORMAT BINARY)"
                ) as copy:
                    copy.set_types(["text", "int4", "int4", "int4", *_CHUNK_TEXT_TYPES, "jsonb", "vector"])
                    for row, (position, chunk) in enumerate(_chunks_with_documents(documents)):
                        copy.write_row(
                            (
                                index,
                                number,
                                row,
                                position,
                                chunk.id,
                                chunk.document_id,
                                chunk.title,
                                chunk.section,
                                chunk.text,
                                chunk.body,
                                chunk.source,
                                Jsonb(dict(chunk.metadata)),
                                rows[row],
                            )
                        )

    def read_generation(self, index: str, number: int) -> StoredGeneration:
        with self._pool.connection() as conn:
            # One snapshot for the three reads: a generation put again meanwhile is not mixed in.
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            found = conn.execute(
                "SELECT model, dimensions, fingerprint, query_fingerprint FROM generations"
                " WHERE index_name = %s AND number = %s",
                (index, number),
            ).fetchone()
            if found is None:
                raise GenerationNotFound(f"generation {number} of index {index!r} is not stored")
            model, dimensions, fingerprint, query_fingerprint = found
            space = EmbeddingSpace(model, dimensions, tuple(fingerprint), tuple(query_fingerprint))
            documents = conn.execute(
                "SELECT id, title, source, metadata FROM generation_documents"
                " WHERE index_name = %s AND generation = %s ORDER BY position",
                (index, number),
            ).fetchall()
            with conn.cursor(binary=True) as cur:
                # Vectors as their wire bytes, made into one matrix below; metadata as JSON text,
                # decoded once per distinct value (chunks of a document mostly share theirs).
                cur.adapters.register_loader(conn.adapters.types["vector"].oid, _VectorBytes)
                cur.execute(
                    "SELECT document_position, id, document_id, title, section, text, body, source,"
                    " metadata::text, embedding FROM generation_chunks"
                    " WHERE index_name = %s AND generation = %s ORDER BY row_number",
                    (index, number),
                )
                chunk_rows = cur.fetchall()
        chunks: list[list[Chunk]] = [[] for _ in documents]
        decoded: dict[str, dict[str, str]] = {}
        for position, id_, document_id, title, section, text, body, source, metadata, _ in chunk_rows:
            if metadata not in decoded:
                decoded[metadata] = json.loads(metadata)
            chunk = Chunk(id_, document_id, title, section, text, body, source, dict(decoded[metadata]))
            chunks[position].append(chunk)
        wire = np.frombuffer(b"".join(row[-1] for row in chunk_rows), dtype=">f4")
        return StoredGeneration(
            index,
            number,
            space,
            tuple(
                Document(id_, title, source, metadata, tuple(chunks[position]))
                for position, (id_, title, source, metadata) in enumerate(documents)
            ),
            wire.astype(np.float32).reshape(len(chunk_rows), space.dimensions),
        )

    def list_generations(self, index: str) -> list[GenerationRecord]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT g.number, g.model, g.dimensions, g.fingerprint, g.query_fingerprint,"
                " g.chunk_count, extract(epoch FROM g.created_at)::float8, c.generation IS NOT NULL"
                " FROM generations g LEFT JOIN current_generations c"
                " ON c.index_name = g.index_name AND c.generation = g.number"
                " WHERE g.index_name = %s ORDER BY g.number",
                (index,),
            ).fetchall()
        return [
            GenerationRecord(
                index,
                number,
                EmbeddingSpace(model, dims, tuple(fingerprint), tuple(query_fingerprint)),
                chunks,
                created_at,
                current,
            )
            for number, model, dims, fingerprint, query_fingerprint, chunks, created_at, current in rows
        ]

    def make_current(self, index: str, number: int) -> None:
        try:
            with self._pool.connection() as conn:
                self._check_fence(conn)
                conn.execute(
                    "INSERT INTO current_generations (index_name, generation) VALUES (%s, %s)"
                    " ON CONFLICT (index_name) DO UPDATE SET generation = EXCLUDED.generation,"
                    " changed_at = now()",
                    (index, number),
                )
                # Delivered at commit, with the switch: a replica told of it can read it.
                conn.execute(
                    "SELECT pg_notify(%s, %s)",
                    (GENERATIONS_CHANNEL, json.dumps({"index": index, "generation": number})),
                )
        except psycopg.errors.ForeignKeyViolation:
            raise GenerationNotFound(f"generation {number} of index {index!r} is not stored") from None

    def _check_fence(self, conn: psycopg.Connection[Any]) -> None:
        """With ``fencing`` set (a replica's indexer lease), a write of the current generation is
        made only while that lease's epoch is the newest: a holder that lost the lease, before it
        noticed, can neither switch nor drop what its successor serves."""
        if self.fencing is None:
            return
        # FOR SHARE: a new holder's epoch bump waits for this transaction, and it for the bump.
        row = conn.execute("SELECT epoch FROM indexer_lease FOR SHARE").fetchone()
        held = self.fencing()
        if row is None or held is None or int(row[0]) != held:
            raise GenerationFenced(
                f"the indexer lease moved on (epoch {row[0] if row else '?'}, ours {held})"
            )

    def current_generation(self, index: str) -> int | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT generation FROM current_generations WHERE index_name = %s", (index,)
            ).fetchone()
        return None if row is None else int(row[0])

    def drop_generations(self, index: str, keep: int = 1) -> int:
        with self._pool.connection() as conn:
            self._check_fence(conn)
            # Locks the pointer row: a concurrent make_current waits, so the current one is known.
            current = conn.execute(
                "SELECT generation FROM current_generations WHERE index_name = %s FOR UPDATE", (index,)
            ).fetchone()
            numbers = [
                row[0]
                for row in conn.execute(
                    "SELECT number FROM generations WHERE index_name = %s ORDER BY number FOR UPDATE",
                    (index,),
                )
            ]
            doomed = [n for n in numbers[: max(len(numbers) - keep, 0)] if current is None or n != current[0]]
            if doomed:
                for table, column in (
                    ("generation_chunks", "generation"),
                    ("generation_documents", "generation"),
                    ("generations", "number"),
                ):
                    conn.execute(
                        f"DELETE FROM {table} WHERE index_name = %s AND {column} = ANY(%s)",
                        (index, doomed),
                    )
        return len(doomed)

    def close(self) -> None:
        self.events.close()
        self._pool.close()
        if self._embedded is not None:
            self._embedded.stop()


class _VectorBytes(Loader):
    """A vector's binary wire form without its header (dimensions, unused): big-endian float32s."""

    format = Format.BINARY

    def load(self, data: Buffer) -> bytes:
        return bytes(data[4:])


def _configure(conn: psycopg.Connection[Any]) -> None:
    register_vector(conn)  # numpy arrays in, pgvector Vectors out
    conn.commit()  # the pool wants its connections idle


def _chunks_with_documents(documents: Sequence[Document]) -> Iterator[tuple[int, Chunk]]:
    for position, document in enumerate(documents):
        for chunk in document.chunks:
            yield position, chunk


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
