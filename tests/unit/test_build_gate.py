"""The provider's build gate: a shared limit on build batches, smallest build first, cut by slow
queries and failing batches, regained batch by batch."""

from __future__ import annotations

import asyncio

import pytest

from semsearch.embeddings.build_gate import SLACK_SECONDS, BuildGate, Job


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def hold(job: Job, position: int, order: list[str], release: asyncio.Event, name: str) -> None:
    async with job.slot(position):
        order.append(f"{name}{position}")
        await release.wait()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_batches_up_to_the_limit_run_and_the_rest_wait() -> None:
    gate = BuildGate(3)
    job = gate.job(10)
    order: list[str] = []
    release = asyncio.Event()
    tasks = [asyncio.create_task(hold(job, i, order, release, "a")) for i in range(5)]
    await settle()
    assert order == ["a0", "a1", "a2"] and gate.in_flight == 3 and gate.waiting == 2
    release.set()
    await asyncio.gather(*tasks)
    assert order == ["a0", "a1", "a2", "a3", "a4"] and gate.in_flight == 0


async def test_the_smallest_build_goes_first_and_each_build_in_order() -> None:
    gate = BuildGate(1)
    order: list[str] = []
    first = asyncio.Event()
    blocker = asyncio.create_task(hold(gate.job(1000), 0, order, first, "blocker"))
    await settle()
    large, small = gate.job(50), gate.job(3)  # the large one asked first
    later = asyncio.Event()
    later.set()
    tasks = [asyncio.create_task(hold(large, i, order, later, "large")) for i in range(2)]
    tasks += [asyncio.create_task(hold(small, i, order, later, "small")) for i in range(2)]
    await settle()
    first.set()
    await asyncio.gather(blocker, *tasks)
    assert order == ["blocker0", "small0", "small1", "large0", "large1"]


async def test_a_builds_own_order_breaks_ties_between_builds_of_one_size() -> None:
    gate = BuildGate(1)
    order: list[str] = []
    first = asyncio.Event()
    blocker = asyncio.create_task(hold(gate.job(1), 0, order, first, "x"))
    await settle()
    a, b = gate.job(4), gate.job(4)
    go = asyncio.Event()
    go.set()
    tasks = [asyncio.create_task(hold(b, 1, order, go, "b")), asyncio.create_task(hold(a, 1, order, go, "a"))]
    tasks += [
        asyncio.create_task(hold(b, 0, order, go, "b")),
        asyncio.create_task(hold(a, 0, order, go, "a")),
    ]
    await settle()
    first.set()
    await asyncio.gather(blocker, *tasks)
    assert order == ["x0", "a0", "a1", "b0", "b1"]  # the build that asked first finishes first


async def test_a_batch_cancelled_while_waiting_leaves_no_hole() -> None:
    gate = BuildGate(1)
    order: list[str] = []
    release = asyncio.Event()
    job = gate.job(3)
    first = asyncio.create_task(hold(job, 0, order, release, "a"))
    second = asyncio.create_task(hold(job, 1, order, release, "a"))
    third = asyncio.create_task(hold(job, 2, order, release, "a"))
    await settle()
    second.cancel()
    await settle()
    release.set()
    await asyncio.gather(first, third)
    assert second.cancelled() and order == ["a0", "a2"] and gate.in_flight == 0


def slow_query(gate: BuildGate, clock: Clock, seconds: float) -> None:
    started = clock.now
    clock.now += seconds
    gate.query_answered(started, seconds)


async def test_a_slow_query_while_batches_run_halves_the_limit_once_per_round() -> None:
    clock = Clock()
    gate = BuildGate(8, clock=clock)
    release = asyncio.Event()
    task = asyncio.create_task(hold(gate.job(1), 0, [], release, "a"))
    await settle()
    slow_query(gate, clock, 0.01)  # the best recent query
    assert gate.allowed == 8
    slow_query(gate, clock, 0.01 * 2 + SLACK_SECONDS / 2)  # within twice the best plus the slack
    assert gate.allowed == 8
    # Two slow queries that both started before the cut: one cut, not two.
    started = clock.now
    clock.now += 1.0
    gate.query_answered(started, 1.0)
    gate.query_answered(started, 1.0)
    assert gate.allowed == 4 and gate.cuts == 1
    slow_query(gate, clock, 1.0)  # sent after the cut: the limit did not help yet
    slow_query(gate, clock, 1.0)
    slow_query(gate, clock, 1.0)
    slow_query(gate, clock, 1.0)
    assert gate.allowed == 1  # never below one batch
    release.set()
    await task


def test_a_slow_query_with_no_batch_in_flight_changes_nothing() -> None:
    clock = Clock()
    gate = BuildGate(4, clock=clock)
    slow_query(gate, clock, 0.01)
    slow_query(gate, clock, 5.0)
    assert gate.allowed == 4 and gate.cuts == 0


async def test_answered_batches_regain_the_limit_one_slot_per_round() -> None:
    clock = Clock()
    gate = BuildGate(4, clock=clock)
    release = asyncio.Event()
    task = asyncio.create_task(hold(gate.job(1), 0, [], release, "a"))
    await settle()
    gate.batch_strained(clock.now - 1)
    clock.now += 1
    gate.batch_strained(clock.now - 0.5)
    assert gate.allowed == 1
    gate.batch_answered()  # 1 -> 2 after one batch
    assert gate.allowed == 2
    gate.batch_answered()
    gate.batch_answered()  # 2 -> 2.9: a round of two batches adds about one slot
    assert gate.allowed == 2
    gate.batch_answered()
    assert gate.allowed == 3
    for _ in range(10):
        gate.batch_answered()
    assert gate.allowed == 4 and gate.limit == 4.0  # up to the ceiling, no further
    release.set()
    await task


async def test_a_grown_limit_admits_waiting_batches_at_once() -> None:
    clock = Clock()
    gate = BuildGate(2, clock=clock)
    order: list[str] = []
    release = asyncio.Event()
    gate.batch_strained(clock.now - 1)
    assert gate.allowed == 1
    job = gate.job(2)
    tasks = [asyncio.create_task(hold(job, i, order, release, "a")) for i in range(2)]
    await settle()
    assert order == ["a0"]
    gate.batch_answered()
    await settle()
    assert order == ["a0", "a1"]
    release.set()
    await asyncio.gather(*tasks)


def test_a_gate_admits_at_least_one_batch() -> None:
    with pytest.raises(ValueError, match="at least one"):
        BuildGate(0)
