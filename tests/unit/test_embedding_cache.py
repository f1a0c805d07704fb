"""The durable cache: keyed by the whole space, atomic, survives restarts, recovers from corruption."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from semsearch.embeddings import EmbeddingCache, EmbeddingSpace
from semsearch.proxy.hashing import hash_embed

V1 = EmbeddingSpace("hash-v1", 384, tuple(hash_embed(["probe"], "hash-v1")[0].tolist()))
V1_SWAPPED = EmbeddingSpace("hash-v1", 384, tuple(hash_embed(["probe"], "hash-v2")[0].tolist()))
TEXTS = ["alpha chunk", "beta chunk", "gamma chunk"]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "embeddings.sqlite"


def test_vectors_round_trip_and_survive_a_restart(path: Path) -> None:
    vectors = hash_embed(TEXTS, "hash-v1")
    cache = EmbeddingCache(path)
    assert cache.lookup(V1, "document", TEXTS) == [None, None, None]
    cache.store(V1, "document", TEXTS, vectors)
    cache.close()
    reopened = EmbeddingCache(path)
    found = reopened.lookup(V1, "document", [TEXTS[2], "unknown", TEXTS[0]])
    np.testing.assert_array_equal(found[0], vectors[2])
    assert found[1] is None
    np.testing.assert_array_equal(found[2], vectors[0])
    assert (reopened.hits, reopened.misses) == (2, 1)
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_the_fingerprint_is_part_of_the_key(path: Path) -> None:
    cache = EmbeddingCache(path)
    cache.store(V1, "document", TEXTS, hash_embed(TEXTS, "hash-v1"))
    # Same model name and length, another model behind it: nothing may come back.
    assert cache.lookup(V1_SWAPPED, "document", TEXTS) == [None, None, None]
    nearly = EmbeddingSpace("hash-v1", 384, tuple(float(x) * 1.0001 for x in V1.fingerprint))
    assert all(v is not None for v in cache.lookup(nearly, "document", TEXTS))  # same space, probe noise


def test_task_and_model_separate_entries_and_unprobed_spaces_are_not_cached(path: Path) -> None:
    cache = EmbeddingCache(path)
    cache.store(V1, "document", TEXTS, hash_embed(TEXTS, "hash-v1"))
    assert cache.lookup(V1, "query", TEXTS) == [None, None, None]
    other = EmbeddingSpace("hash-v2", 384, V1.fingerprint)
    assert cache.lookup(other, "document", TEXTS) == [None, None, None]
    unprobed = EmbeddingSpace("hash-v1", 384)
    cache.store(unprobed, "document", ["x"], hash_embed(["x"], "hash-v1"))
    assert cache.lookup(unprobed, "document", ["x"]) == [None]
    assert cache.count() == 3


def test_a_corrupt_file_is_moved_aside_and_rebuilt(path: Path) -> None:
    cache = EmbeddingCache(path)
    cache.store(V1, "document", TEXTS, hash_embed(TEXTS, "hash-v1"))
    cache.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.write_bytes(b"this is not a database" * 100)
    recovered = EmbeddingCache(path)
    assert recovered.lookup(V1, "document", TEXTS) == [None, None, None]
    recovered.store(V1, "document", TEXTS[:1], hash_embed(TEXTS[:1], "hash-v1"))
    assert recovered.count() == 1
    assert len(list(path.parent.glob("embeddings.sqlite.corrupt-*"))) == 1


def test_prune_keeps_the_most_recently_used_spaces(path: Path) -> None:
    cache = EmbeddingCache(path, keep_spaces=2)
    spaces = [
        EmbeddingSpace(f"hash-v{i}", 384, tuple(hash_embed(["probe"], f"hash-v{i}")[0].tolist()))
        for i in range(4)
    ]
    for space in spaces:
        cache.store(space, "document", TEXTS, hash_embed(TEXTS, space.model))
    cache.lookup(spaces[0], "document", TEXTS[:1])  # used again: now among the most recent
    assert cache.prune() == 2
    assert cache.lookup(spaces[1], "document", TEXTS[:1]) == [None]
    assert cache.lookup(spaces[2], "document", TEXTS[:1]) == [None]
    assert cache.lookup(spaces[0], "document", TEXTS[:1])[0] is not None
    assert cache.lookup(spaces[3], "document", TEXTS[:1])[0] is not None
    assert cache.count() == 2 * len(TEXTS)


def test_a_failed_store_writes_nothing(path: Path) -> None:
    cache = EmbeddingCache(path)
    with pytest.raises(ValueError):
        cache.store(V1, "document", TEXTS, hash_embed(TEXTS[:2], "hash-v1"))  # one vector short
    assert cache.count() == 0


def test_a_cache_that_cannot_be_recreated_turns_itself_off(path: Path) -> None:
    cache = EmbeddingCache(path)
    cache.store(V1, "document", TEXTS, hash_embed(TEXTS, "hash-v1"))
    # The connection breaks and its directory is replaced by a file: nothing can be reopened.
    cache._db.close()  # type: ignore[union-attr]
    for item in path.parent.iterdir():
        item.unlink()
    path.parent.rmdir()
    path.parent.write_text("not a directory")
    assert cache.lookup(V1, "document", TEXTS) == [None, None, None]
    assert not cache.enabled
    cache.store(V1, "document", TEXTS, hash_embed(TEXTS, "hash-v1"))  # a no-op, never an error
    assert cache.lookup(V1, "document", TEXTS) == [None, None, None]
    assert cache.prune() == 0 and cache.count() == 0
    cache.close()
