"""The embedding cache in PostgreSQL, shared by every replica: the indexer that takes over from a
dead one finds what its predecessor embedded.

Keyed like the SQLite cache (``semsearch.embeddings.cache``): the space (model, dimensions and
fingerprint, matched within tolerance), the task, the sha256 of the text; the ``keep_spaces`` most
recently used spaces are kept. Like it, never a reason to fail a build: a database error finds
nothing and stores nothing, with a warning.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import psycopg
from psycopg_pool import ConnectionPool

from semsearch.embeddings.cache import text_key
from semsearch.embeddings.space import EmbeddingSpace
from semsearch.logs import event
from semsearch.store.schema import CACHE_SPACES_LOCK, LOCK_SPACE

log = logging.getLogger(__name__)


class PostgresVectorCache:
    """A ``VectorCache``; thread-safe (each call takes a pooled connection)."""

    def __init__(self, pool: ConnectionPool, keep_spaces: int = 3) -> None:
        self._pool = pool
        self.keep_spaces = keep_spaces
        self.hits = 0
        self.misses = 0
        self._counts = threading.Lock()

    @property
    def enabled(self) -> bool:
        return True

    def lookup(self, space: EmbeddingSpace, task: str, texts: Sequence[str]) -> list[np.ndarray | None]:
        if not space.fingerprint:
            return [None] * len(texts)  # an unprobed space has no identity to key on
        keys = [text_key(t) for t in texts]
        found: dict[bytes, np.ndarray] = {}
        try:
            with self._pool.connection() as conn:
                space_id = _space_id(conn, space)
                with conn.cursor(binary=True) as cur:
                    cur.execute(
                        "SELECT sha256, embedding FROM cache_vectors"
                        " WHERE space_id = %s AND task = %s AND sha256 = ANY(%s)",
                        (space_id, task, list(dict.fromkeys(keys))),
                    )
                    found = {bytes(key): vector.to_numpy() for key, vector in cur}
        except psycopg.Error as exc:
            event(log, "cache_lookup_failed", level=logging.WARNING, error=_one_line(exc))
        result: list[np.ndarray | None] = []
        for key in keys:
            vector = found.get(key)
            result.append(vector if vector is not None and vector.shape == (space.dimensions,) else None)
        hits = sum(v is not None for v in result)
        with self._counts:
            self.hits += hits
            self.misses += len(result) - hits
        return result

    def store(self, space: EmbeddingSpace, task: str, texts: Sequence[str], vectors: np.ndarray) -> None:
        if not space.fingerprint or not texts:
            return
        rows = np.asarray(vectors, dtype=np.float32)
        try:
            with self._pool.connection() as conn:
                space_id = _space_id(conn, space)
                with conn.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO cache_vectors (space_id, task, sha256, embedding)"
                        " VALUES (%s, %s, %s, %s) ON CONFLICT (space_id, task, sha256)"
                        " DO UPDATE SET embedding = EXCLUDED.embedding",
                        [
                            (space_id, task, text_key(text), vector)
                            for text, vector in zip(texts, rows, strict=True)
                        ],
                    )
        except psycopg.Error as exc:
            event(log, "cache_store_failed", level=logging.WARNING, error=_one_line(exc))

    def prune(self) -> int:
        try:
            with self._pool.connection() as conn:
                doomed = [
                    row[0]
                    for row in conn.execute(
                        "SELECT id FROM cache_spaces ORDER BY last_used DESC OFFSET %s", (self.keep_spaces,)
                    )
                ]
                if doomed:
                    conn.execute("DELETE FROM cache_vectors WHERE space_id = ANY(%s)", (doomed,))
                    conn.execute("DELETE FROM cache_spaces WHERE id = ANY(%s)", (doomed,))
        except psycopg.Error as exc:
            event(log, "cache_prune_failed", level=logging.WARNING, error=_one_line(exc))
            return 0
        if doomed:
            event(log, "cache_pruned", spaces=len(doomed), kept=self.keep_spaces)
        return len(doomed)

    def count(self) -> int:
        with self._pool.connection() as conn:
            row = conn.execute("SELECT count(*) FROM cache_vectors").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        """The pool belongs to the store, which closes it."""


def _space_id(conn: psycopg.Connection[Any], space: EmbeddingSpace) -> int:
    """The id of the stored space that is the same as ``space``, created if there is none; marks
    it used now (retention keeps the most recently used)."""
    known = _matching_space(conn, space)
    if known is None:
        # Two replicas meeting a new space at once must not both create it.
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_SPACE, CACHE_SPACES_LOCK))
        known = _matching_space(conn, space)
        if known is None:
            row = conn.execute(
                "INSERT INTO cache_spaces (model, dimensions, fingerprint) VALUES (%s, %s, %s) RETURNING id",
                (space.model, space.dimensions, list(space.fingerprint)),
            ).fetchone()
            assert row is not None
            return int(row[0])
    conn.execute("UPDATE cache_spaces SET last_used = now() WHERE id = %s", (known,))
    return known


def _matching_space(conn: psycopg.Connection[Any], space: EmbeddingSpace) -> int | None:
    rows = conn.execute(
        "SELECT id, fingerprint FROM cache_spaces WHERE model = %s AND dimensions = %s ORDER BY id",
        (space.model, space.dimensions),
    ).fetchall()
    for space_id, fingerprint in rows:
        if EmbeddingSpace(space.model, space.dimensions, tuple(fingerprint)).same_as(space):
            return int(space_id)
    return None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
