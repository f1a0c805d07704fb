"""The indexer lease on real PostgreSQL: exclusive, freed with its holder's connection, fenced."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from semsearch.store.lease import IndexerLease
from semsearch.store.postgres import PostgresStore


@pytest.fixture
def pg(postgres_dsn: str) -> Iterator[PostgresStore]:
    store = PostgresStore.open(postgres_dsn, pool_size=2)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def leases(pg: PostgresStore) -> Iterator[tuple[IndexerLease, IndexerLease]]:
    first, second = pg.lease(), pg.lease()
    try:
        yield first, second
    finally:
        first.close()
        second.close()


def test_one_holder_at_a_time(leases: tuple[IndexerLease, IndexerLease]) -> None:
    first, second = leases
    assert first.holder() is None
    assert first.try_acquire("replica-a") == 1
    assert second.try_acquire("replica-b") is None
    assert first.still_held() and not second.still_held()
    assert second.holder() == ("replica-a", 1)
    assert first.try_acquire("replica-a") == 1  # asking again while holding changes nothing


def test_released_lease_goes_to_the_next_with_a_new_epoch(leases: tuple[IndexerLease, IndexerLease]) -> None:
    first, second = leases
    assert first.try_acquire("replica-a") == 1
    first.release()
    assert not first.still_held()
    assert first.holder() is None
    assert second.try_acquire("replica-b") == 2
    assert first.holder() == ("replica-b", 2)


def test_the_lease_is_freed_when_its_holders_connection_ends(
    pg: PostgresStore, leases: tuple[IndexerLease, IndexerLease]
) -> None:
    """A holder that dies (its session ends) loses the lease at once, and finds out."""
    first, second = leases
    assert first.try_acquire("replica-a") == 1
    with psycopg.connect(pg.dsn, autocommit=True) as admin:
        ended = admin.execute(
            "SELECT pg_terminate_backend(pid, 10000) FROM pg_locks WHERE locktype = 'advisory' AND granted"
        ).fetchall()
    assert ended == [(True,)]
    assert second.try_acquire("replica-b") == 2
    assert not first.still_held()
    assert first.epoch is None
    assert first.try_acquire("replica-a") is None  # reconnects, but the lease is taken


def test_a_deposed_holder_cannot_write_state(
    pg: PostgresStore, leases: tuple[IndexerLease, IndexerLease]
) -> None:
    first, second = leases
    old = first.try_acquire("replica-a")
    assert old is not None
    assert pg.events.record_state("eips", "READY", 1.0, "", None, {"n": 1}, epoch=old) is not None
    first.release()
    new = second.try_acquire("replica-b")
    assert new == old + 1
    assert pg.events.record_state("eips", "PARKED", 2.0, "", None, {"n": 2}, epoch=old) is None
    assert [e.event for e in pg.events.events_after(0) or []] == [{"n": 1}]
    assert pg.events.record_state("eips", "PARKED", 2.0, "", None, {"n": 3}, epoch=new) is not None
