"""Durable embedding cache: SQLite in WAL mode, vectors keyed by (space, task, sha256 of the text).

The space is the full identity — model, dimensions *and fingerprint* — so a model swapped behind an
unchanged name can never be handed vectors from before the swap. A corrupt or unreadable file is
moved aside and rebuilt; the service starts either way. A cache that cannot be recreated (disk full,
directory gone or read-only) turns itself off: builds go on without it, they never fail because of it.

Retention: the ``keep_spaces`` most recently used spaces are kept, older ones are pruned.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from semsearch.embeddings.space import EmbeddingSpace
from semsearch.logs import event

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spaces (
    id INTEGER PRIMARY KEY,
    model TEXT NOT NULL,
    dimensions INTEGER NOT NULL,
    fingerprint BLOB NOT NULL,
    last_used REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS vectors (
    space_id INTEGER NOT NULL REFERENCES spaces(id) ON DELETE CASCADE,
    task TEXT NOT NULL,
    sha256 BLOB NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (space_id, task, sha256)
) WITHOUT ROWID;
"""
_LOOKUP_CHUNK = 500  # SQLite caps the number of bound parameters per statement


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


class EmbeddingCache:
    """Thread-safe (one connection behind a lock); call it from worker threads, not the event loop."""

    def __init__(self, path: Path, keep_spaces: int = 3) -> None:
        self.path = path
        self.keep_spaces = keep_spaces
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._space_ids: dict[EmbeddingSpace, int] = {}
        self._db: sqlite3.Connection | None = self._open()

    @property
    def enabled(self) -> bool:
        return self._db is not None

    # -- opening and recovery ------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = self._connect()
            status = db.execute("PRAGMA quick_check").fetchone()[0]
            if status != "ok":
                db.close()
                raise sqlite3.DatabaseError(f"quick_check: {status}")
            db.executescript(_SCHEMA)
            return db
        except sqlite3.DatabaseError as exc:
            self._move_aside(str(exc))
            db = self._connect()
            db.executescript(_SCHEMA)
            return db

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at checkpoints, never corrupt
        db.execute("PRAGMA foreign_keys=ON")
        return db

    def _move_aside(self, why: str) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        for suffix in ("", "-wal", "-shm"):
            source = Path(f"{self.path}{suffix}")
            if source.exists():
                source.rename(Path(f"{self.path}.corrupt-{stamp}{suffix}"))
        self._space_ids.clear()
        event(
            log,
            "cache_moved_aside",
            level=logging.WARNING,
            path=str(self.path),
            reason=why,
            moved_to=f"{self.path}.corrupt-{stamp}",
        )

    def _recover(self, exc: sqlite3.Error) -> None:
        """A failure mid-run (file damaged or removed under us): start a fresh cache file, or, when
        that fails too, carry on without a cache rather than fail the build that is using it."""
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
        self._db = None
        try:
            self._move_aside(f"error during use: {exc}")
            self._db = self._open()
        except (OSError, sqlite3.Error) as again:
            self._space_ids.clear()
            event(log, "cache_disabled", level=logging.ERROR, path=str(self.path), error=str(again))

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # -- spaces --------------------------------------------------------------------------------
    def _space_id(self, db: sqlite3.Connection, space: EmbeddingSpace) -> int:
        """The id of the stored space that is the same as ``space`` (fingerprint within tolerance)."""
        known = self._space_ids.get(space)
        now = time.time()
        if known is None:
            rows = db.execute(
                "SELECT id, fingerprint FROM spaces WHERE model = ? AND dimensions = ?",
                (space.model, space.dimensions),
            ).fetchall()
            for space_id, blob in rows:
                stored = EmbeddingSpace(
                    space.model, space.dimensions, tuple(np.frombuffer(blob, "<f4").tolist())
                )
                if stored.same_as(space):
                    known = int(space_id)
                    break
            if known is None:
                fingerprint = np.asarray(space.fingerprint, dtype="<f4").tobytes()
                cursor = db.execute(
                    "INSERT INTO spaces (model, dimensions, fingerprint, last_used) VALUES (?, ?, ?, ?)",
                    (space.model, space.dimensions, fingerprint, now),
                )
                known = int(cursor.lastrowid or 0)
            self._space_ids[space] = known
        db.execute("UPDATE spaces SET last_used = ? WHERE id = ?", (now, known))
        return known

    # -- vectors -------------------------------------------------------------------------------
    def lookup(self, space: EmbeddingSpace, task: str, texts: Sequence[str]) -> list[np.ndarray | None]:
        """The cached vector of each text in ``space``, or None where there is none."""
        if not space.fingerprint:
            return [None] * len(texts)  # an unprobed space has no identity to key on
        keys = [text_key(t) for t in texts]
        with self._lock:
            found = self._fetch(space, task, keys)
        result: list[np.ndarray | None] = []
        for key in keys:
            blob = found.get(key)
            vector = np.frombuffer(blob, dtype="<f4") if blob is not None else None
            result.append(vector if vector is not None and vector.shape == (space.dimensions,) else None)
        hits = sum(v is not None for v in result)
        self.hits += hits
        self.misses += len(result) - hits
        return result

    def _fetch(self, space: EmbeddingSpace, task: str, keys: Sequence[bytes]) -> dict[bytes, bytes]:
        """Stored vectors by key (the lock is held); a failing or disabled cache finds nothing."""
        db = self._db
        if db is None:
            return {}
        found: dict[bytes, bytes] = {}
        try:
            space_id = self._space_id(db, space)
            unique = list(dict.fromkeys(keys))
            for start in range(0, len(unique), _LOOKUP_CHUNK):
                part = unique[start : start + _LOOKUP_CHUNK]
                rows = db.execute(
                    f"SELECT sha256, vector FROM vectors WHERE space_id = ? AND task = ? "
                    f"AND sha256 IN ({','.join('?' * len(part))})",
                    (space_id, task, *part),
                ).fetchall()
                found.update(rows)
        except sqlite3.Error as exc:
            self._recover(exc)
            return {}
        return found

    def store(self, space: EmbeddingSpace, task: str, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Store vectors in one transaction: all of them or, on failure, none."""
        if not space.fingerprint or not texts:
            return
        rows = [
            (text_key(t), np.asarray(v, dtype="<f4").tobytes()) for t, v in zip(texts, vectors, strict=True)
        ]
        with self._lock:
            db = self._db
            if db is None:
                return
            try:
                db.execute("BEGIN IMMEDIATE")
                space_id = self._space_id(db, space)
                db.executemany(
                    "INSERT OR REPLACE INTO vectors (space_id, task, sha256, vector) VALUES (?, ?, ?, ?)",
                    [(space_id, task, key, blob) for key, blob in rows],
                )
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                event(log, "cache_store_failed", level=logging.WARNING, error=str(exc))
                self._recover(exc)

    def prune(self) -> int:
        """Drop every space but the ``keep_spaces`` most recently used; return how many went."""
        with self._lock:
            db = self._db
            if db is None:
                return 0
            try:
                doomed = [
                    row[0]
                    for row in db.execute(
                        "SELECT id FROM spaces ORDER BY last_used DESC LIMIT -1 OFFSET ?", (self.keep_spaces,)
                    )
                ]
                if doomed:
                    db.execute("BEGIN IMMEDIATE")
                    db.executemany("DELETE FROM spaces WHERE id = ?", [(i,) for i in doomed])
                    db.execute("COMMIT")
                    self._space_ids = {s: i for s, i in self._space_ids.items() if i not in doomed}
            except sqlite3.Error as exc:
                self._recover(exc)
                return 0
        if doomed:
            event(log, "cache_pruned", spaces=len(doomed), kept=self.keep_spaces)
        return len(doomed)

    def count(self) -> int:
        with self._lock:
            if self._db is None:
                return 0
            return int(self._db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])
