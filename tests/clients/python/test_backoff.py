"""Backoff delays and the refusal retry's decisions, with randomness and sleeping under control."""

from __future__ import annotations

import random

import grpc
import pytest

from semsearch_client import (
    Backoff,
    IndexNotReadyError,
    InvalidArgumentError,
    RefusalRetry,
    SemsearchError,
    UnreachableError,
)

NO_JITTER, FULL_JITTER = (lambda: 0.0), (lambda: 1.0)


def not_ready(delay: float = 1.0) -> IndexNotReadyError:
    return IndexNotReadyError(grpc.StatusCode.UNAVAILABLE, "index 'eips' is PARKED", retry_delay=delay)


def test_delays_double_up_to_the_cap() -> None:
    backoff = Backoff(initial=0.2, maximum=1.0, multiplier=2.0, jitter=0.5)
    assert [backoff.delay(n, rand=NO_JITTER) for n in range(5)] == pytest.approx([0.2, 0.4, 0.8, 1.0, 1.0])
    assert [backoff.delay(n, rand=FULL_JITTER) for n in range(5)] == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.5])


def test_jitter_stays_within_its_band() -> None:
    backoff = Backoff(initial=1.0, maximum=8.0, jitter=0.25)
    rng = random.Random(7)
    for attempt in range(6):
        ceiling = min(8.0, 2.0**attempt)
        samples = [backoff.delay(attempt, rand=rng.random) for _ in range(200)]
        assert all(0.75 * ceiling <= s <= ceiling for s in samples)
        assert len(set(samples)) > 1, "jitter must spread retries"


def test_a_server_delay_comes_first_and_jitter_after_it() -> None:
    backoff = Backoff(initial=0.5, jitter=0.5)
    assert backoff.delay(0, after=2.0, rand=NO_JITTER) == pytest.approx(2.5)
    assert backoff.delay(0, after=2.0, rand=FULL_JITTER) == pytest.approx(2.25)


def test_a_long_outage_does_not_overflow() -> None:
    assert Backoff(maximum=15.0).delay(10_000, rand=NO_JITTER) == 15.0


@pytest.mark.parametrize(
    "kwargs",
    [{"initial": 0}, {"initial": 2, "maximum": 1}, {"multiplier": 0.5}, {"jitter": 1.5}, {"jitter": -0.1}],
)
def test_nonsense_backoffs_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)


def test_refusal_retry_retries_only_refusals_with_retry_info() -> None:
    policy = RefusalRetry(backoff=Backoff(initial=0.5, jitter=0.0))
    assert policy.next_delay(not_ready(1.0), attempt=1, elapsed=0) == pytest.approx(1.5)
    assert policy.next_delay(not_ready(1.0), attempt=2, elapsed=0) == pytest.approx(2.0)
    unreachable = UnreachableError(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses")
    assert policy.next_delay(unreachable, attempt=1, elapsed=0) is None  # the channel's retries own it
    invalid = InvalidArgumentError(grpc.StatusCode.INVALID_ARGUMENT, "bad", reason="INVALID_QUERY")
    assert policy.next_delay(invalid, attempt=1, elapsed=0) is None


def test_refusal_retry_stops_at_its_attempts_and_its_deadline() -> None:
    policy = RefusalRetry(max_attempts=3, deadline=10.0, backoff=Backoff(initial=0.5, jitter=0.0))
    assert policy.next_delay(not_ready(), attempt=2, elapsed=0) is not None
    assert policy.next_delay(not_ready(), attempt=3, elapsed=0) is None
    assert policy.next_delay(not_ready(), attempt=1, elapsed=8.4) is not None  # 8.4 + 1.5 <= 10
    assert policy.next_delay(not_ready(), attempt=1, elapsed=8.6) is None  # would start after 10 s


def test_run_sleeps_between_attempts_and_returns_the_answer() -> None:
    outcomes: list[SemsearchError | str] = [not_ready(1.0), not_ready(2.0), "answer"]
    slept: list[float] = []
    seen: list[tuple[str, float]] = []
    policy = RefusalRetry(backoff=Backoff(initial=0.1), on_retry=lambda e, d: seen.append((e.reason, d)))

    def call() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, SemsearchError):
            raise outcome
        return outcome

    assert policy.run(call, sleep=slept.append) == "answer"
    assert len(slept) == 2 and slept[0] >= 1.0 and slept[1] >= 2.0
    assert [d for _, d in seen] == slept


def test_run_gives_up_with_the_last_error() -> None:
    calls = 0

    def call() -> str:
        nonlocal calls
        calls += 1
        raise not_ready()

    with pytest.raises(IndexNotReadyError):
        RefusalRetry(max_attempts=3).run(call, sleep=lambda _: None)
    assert calls == 3


async def test_run_async_retries_a_refusal() -> None:
    outcomes: list[SemsearchError | str] = [not_ready(0.0), "answer"]

    async def call() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, SemsearchError):
            raise outcome
        return outcome

    assert await RefusalRetry(backoff=Backoff(initial=0.001)).run_async(call) == "answer"
    assert not outcomes


def test_nonsense_policies_are_refused() -> None:
    with pytest.raises(ValueError):
        RefusalRetry(max_attempts=0)
    with pytest.raises(ValueError):
        RefusalRetry(deadline=-1)
