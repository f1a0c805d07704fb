"""The shared log on a real PostgreSQL: fenced appends, gap-free reads, trims, snapshots, requests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from semsearch.replication.postgres import PostgresSharedLog
from semsearch.store.lease import IndexerLease
from semsearch.store.postgres import PostgresStore


@pytest.fixture
def store(pg_dsn: str) -> Iterator[PostgresStore]:
    opened = PostgresStore.open(pg_dsn)
    yield opened
    opened.close()


def _record(index: str, n: int) -> dict[str, object]:
    status = {"name": index, "state": "READY", "state_since": 1.0, "last_error": "", "progress": None, "n": n}
    return {"index": index, "reason": f"change {n}", "status": status}


def test_appends_are_fenced_by_the_lease_epoch_and_read_back_in_order(store: PostgresStore) -> None:
    log = PostgresSharedLog(store)
    first, second = IndexerLease(store.dsn), IndexerLease(store.dsn)
    try:
        epoch = first.try_acquire("a")
        assert epoch is not None and second.try_acquire("b") is None
        positions = [log.append(_record("eips", n), epoch) for n in range(3)]
        assert positions == [positions[0], positions[0] + 1, positions[0] + 2]
        first.close()  # its connection ends: the lease is free
        newer = second.try_acquire("b")
        assert newer == epoch + 1
        assert log.append(_record("eips", 9), epoch) is None  # the deposed holder writes nothing
        assert log.append(_record("specs", 4), newer) == positions[-1] + 1
        changes = log.changes_after(positions[0] - 1)
        assert changes is not None
        assert [c.record["reason"] for c in changes] == ["change 0", "change 1", "change 2", "change 4"]
        snapshot = log.snapshot()
        assert snapshot.sequence == positions[-1] + 1 and len(snapshot.log_id) == 32
        assert sorted((s["name"], s["n"]) for s in snapshot.statuses) == [("eips", 2), ("specs", 4)]
    finally:
        first.close()
        second.close()


def test_a_position_older_than_the_trimmed_log_is_a_gap(store: PostgresStore) -> None:
    log = PostgresSharedLog(store)
    lease = IndexerLease(store.dsn)
    try:
        epoch = lease.try_acquire("a")
        assert epoch is not None
        positions = [log.append(_record("eips", n), epoch) for n in range(10)]
        assert log.trim(3) == 7
        assert log.changes_after(positions[0]) is None  # what came after it is partly gone
        kept = log.changes_after(positions[6])
        assert kept is not None and [c.sequence for c in kept] == positions[7:]
        assert log.changes_after(positions[-1]) == []
    finally:
        lease.close()


def test_the_recorded_space_heartbeats_and_rebuild_requests(store: PostgresStore) -> None:
    log = PostgresSharedLog(store)
    lease = IndexerLease(store.dsn)
    try:
        epoch = lease.try_acquire("a")
        assert epoch is not None
        log.record_built_space({"model": "m", "dimensions": 3}, epoch + 1)  # fenced: not ours
        assert log.snapshot().built_space is None
        log.record_built_space({"model": "m", "dimensions": 3}, epoch)
        assert log.snapshot().built_space == {"model": "m", "dimensions": 3}
        log.report_replica("r1", {"name": "r1", "indexer": True})
        log.report_replica("r2", {"name": "r2", "indexer": False})
        assert [r["name"] for r in log.replicas(60)] == ["r1", "r2"]
        log.request_rebuild(["eips"], "first")
        log.request_rebuild([], "second")
        assert log.take_rebuild_requests() == [(["eips"], "first"), ([], "second")]
        assert log.take_rebuild_requests() == []
    finally:
        lease.close()
