"""Index state and the event log on real PostgreSQL: one transaction per change, a global order,
a gap answered with None, and a notification per event."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import psycopg
import pytest

from semsearch.store.event_log import EventLog
from semsearch.store.postgres import PostgresStore


@pytest.fixture
def pg(postgres_dsn: str) -> Iterator[PostgresStore]:
    store = PostgresStore.open(postgres_dsn, pool_size=4)
    try:
        yield store
    finally:
        store.close()


def _record(log: EventLog, index: str, state: str, n: int) -> int:
    sequence = log.record_state(
        index, state, 1000.0 + n, "boom" if state == "PARKED" else "", {"done": n, "total": 10}, {"n": n}
    )
    assert sequence is not None
    return sequence


def test_state_and_event_are_written_together_in_order(pg: PostgresStore) -> None:
    log = pg.events
    assert log.latest_sequence() == 0
    first = _record(log, "eips", "REBUILDING", 1)
    second = _record(log, "specs", "READY", 2)
    third = _record(log, "eips", "PARKED", 3)
    assert first < second < third == log.latest_sequence()
    events = log.events_after(0)
    assert events is not None
    assert [(e.sequence, e.index, e.event) for e in events] == [
        (first, "eips", {"n": 1}),
        (second, "specs", {"n": 2}),
        (third, "eips", {"n": 3}),
    ]
    assert [e.sequence for e in log.events_after(first, limit=1) or []] == [second]
    snapshot = log.snapshot()
    assert snapshot.sequence == third
    assert [
        (s.index, s.state, s.since, s.last_error, s.progress, s.sequence, s.event) for s in snapshot.states
    ] == [
        ("eips", "PARKED", 1003.0, "boom", {"done": 3, "total": 10}, third, {"n": 3}),
        ("specs", "READY", 1002.0, "", {"done": 2, "total": 10}, second, {"n": 2}),
    ]


def test_a_change_that_fails_writes_neither_state_nor_event(pg: PostgresStore) -> None:
    _record(pg.events, "eips", "READY", 1)
    with pytest.raises(psycopg.DataError):  # no time is NaN: the event written first is rolled back
        pg.events.record_state("eips", "PARKED", float("nan"), "", None, {"n": 2})
    assert [e.event for e in pg.events.events_after(0) or []] == [{"n": 1}]
    assert [s.state for s in pg.events.snapshot().states] == ["READY"]


def test_concurrent_writers_never_let_a_reader_skip_an_event(pg: PostgresStore) -> None:
    """Numbers commit in order, so reading 'after the last one seen' while writers race misses none."""
    written: list[int] = []
    seen: list[int] = []
    done = threading.Event()

    def write(index: str) -> None:
        for n in range(40):
            written.append(_record(pg.events, index, "READY", n))

    def read() -> None:
        position = 0
        while True:
            finished = done.is_set()
            for logged in pg.events.events_after(position) or []:
                seen.append(logged.sequence)
                position = logged.sequence
            if finished:
                return

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=write, args=(name,)) for name in ("a", "b", "c")]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    reader.join()
    assert seen == sorted(written)


def test_trimmed_events_are_a_gap(pg: PostgresStore) -> None:
    log = pg.events
    sequences = [_record(log, "eips", "READY", n) for n in range(5)]
    assert log.trim_events(keep=2) == 3
    assert log.events_after(0) is None  # the first three are gone: start again from a snapshot
    assert [e.sequence for e in log.events_after(sequences[2]) or []] == sequences[3:]
    assert log.latest_sequence() == sequences[-1]
    assert log.trim_events(keep=2) == 0
    assert log.trim_events(keep=0) == 2
    assert log.latest_sequence() == sequences[-1]  # numbering goes on after the log is emptied
    assert log.events_after(sequences[-1]) == []
    assert _record(log, "eips", "READY", 9) > sequences[-1]


def test_an_event_wakes_a_waiting_replica(pg: PostgresStore, postgres_dsn: str) -> None:
    other = PostgresStore.open(postgres_dsn, pool_size=2)
    try:
        assert other.events.wait_for_events(0.05) is False  # now listening; nothing yet
        _record(pg.events, "eips", "READY", 1)
        assert other.events.wait_for_events(10) is True
        assert other.events.wait_for_events(0.05) is False
    finally:
        other.close()
