"""What the PostgreSQL store does beyond the contract: replicas share it, the switch is announced,
and the cache never fails a build."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import psycopg
import pytest

from semsearch.store.listener import Listener, generation_notice
from semsearch.store.postgres import PostgresStore
from semsearch.store.schema import GENERATIONS_CHANNEL
from tests.store.test_contract import SPACE, _documents, _vectors


@pytest.fixture
def pg(postgres_dsn: str) -> Iterator[PostgresStore]:
    store = PostgresStore.open(postgres_dsn, pool_size=2)
    try:
        yield store
    finally:
        store.close()


def test_a_second_replica_reads_what_the_first_put(pg: PostgresStore, postgres_dsn: str) -> None:
    other = PostgresStore.open(postgres_dsn, pool_size=2)
    try:
        documents, vectors = _documents(2), _vectors(4, 1)
        pg.put_generation("eips", 3, SPACE, documents, vectors)
        pg.make_current("eips", 3)
        assert other.current_generation("eips") == 3
        read = other.read_generation("eips", 3)
        assert read.documents == documents
        np.testing.assert_array_equal(read.vectors, vectors)
        pg.cache.store(SPACE, "document", ["alpha"], vectors[:1])
        found = other.cache.lookup(SPACE, "document", ["alpha"])[0]
        assert found is not None
        np.testing.assert_array_equal(found, vectors[0])
    finally:
        other.close()


def test_make_current_is_announced_when_it_commits(pg: PostgresStore) -> None:
    listener = Listener(pg.dsn, [GENERATIONS_CHANNEL])
    try:
        pg.put_generation("eips", 1, SPACE, _documents(1), _vectors(2, 1))
        assert listener.wait(0.05) == []  # a put is not a switch
        pg.make_current("eips", 1)
        notices = listener.wait(10)
        assert [(n.channel, generation_notice(n.payload)) for n in notices] == [
            (GENERATIONS_CHANNEL, ("eips", 1))
        ]
    finally:
        listener.close()


def test_a_failed_switch_announces_nothing(pg: PostgresStore) -> None:
    listener = Listener(pg.dsn, [GENERATIONS_CHANNEL])
    try:
        with pytest.raises(LookupError):
            pg.make_current("eips", 9)
        assert listener.wait(0.2) == []
    finally:
        listener.close()


def test_a_reader_keeps_its_generation_while_the_switch_commits(pg: PostgresStore) -> None:
    """The swap is a row update: a transaction that began before it still sees the old one."""
    for number in (1, 2):
        pg.put_generation("eips", number, SPACE, _documents(1, str(number)), _vectors(2, number))
    pg.make_current("eips", 1)
    with psycopg.connect(pg.dsn) as reader:
        reader.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        before = reader.execute("SELECT generation FROM current_generations").fetchone()
        pg.make_current("eips", 2)  # does not wait for the open reader
        during = reader.execute("SELECT generation FROM current_generations").fetchone()
    assert before == during == (1,)
    assert pg.current_generation("eips") == 2


def test_a_dropped_generation_leaves_no_rows(pg: PostgresStore) -> None:
    for number in (1, 2):
        pg.put_generation("eips", number, SPACE, _documents(2), _vectors(4, number))
    pg.make_current("eips", 2)
    assert pg.drop_generations("eips", keep=1) == 1
    with psycopg.connect(pg.dsn) as conn:
        for table in ("generation_chunks", "generation_documents"):
            rows = conn.execute(f"SELECT DISTINCT generation FROM {table}").fetchall()
            assert rows == [(2,)], table


def test_the_cache_never_fails_a_build(pg: PostgresStore) -> None:
    """Its tables gone from under it: lookups find nothing, stores keep nothing, no exception."""
    cache = pg.cache
    cache.store(SPACE, "document", ["alpha"], _vectors(1, 1))
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE cache_vectors, cache_spaces")
    assert cache.lookup(SPACE, "document", ["alpha", "beta"]) == [None, None]
    cache.store(SPACE, "document", ["beta"], _vectors(1, 2))
    assert cache.prune() == 0


def test_the_cache_counts_hits_and_misses(pg: PostgresStore) -> None:
    pg.cache.store(SPACE, "document", ["alpha"], _vectors(1, 1))
    pg.cache.lookup(SPACE, "document", ["alpha", "beta", "gamma"])
    assert (pg.cache.hits, pg.cache.misses) == (1, 2)
    assert pg.cache.count() == 1
