"""Opt-in retry of calls the server refused with a RetryInfo delay, sleeping at least that delay.

The channel's own retry policy repeats UNAVAILABLE a few times within about a second, without
knowing what the server asked for. A refusal such as INDEX_NOT_READY says how long to wait (its
RetryInfo), and riding out a model change can take as long as a full rebuild: that needs longer,
server-paced waits, which this policy adds on top, bounded by attempts and by a deadline.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from semsearch_client.backoff import Backoff
from semsearch_client.errors import SemsearchError, UnavailableError

log = logging.getLogger("semsearch_client")

T = TypeVar("T")


@dataclass(frozen=True)
class RefusalRetry:
    """Retry UNAVAILABLE refusals that carry RetryInfo (index not ready, embedding space changed,
    provider down). The wait before retry n is the server's delay plus ``backoff.delay(n)``.

    ``max_attempts`` counts every attempt, the first included; no retry starts when it would begin
    more than ``deadline`` seconds after the first attempt. ``on_retry(error, delay)`` is called
    before each wait (for metrics or logs).
    """

    max_attempts: int = 5
    deadline: float = 60.0
    backoff: Backoff = field(default_factory=lambda: Backoff(initial=0.25, maximum=10.0))
    on_retry: Callable[[SemsearchError, float], None] | None = None

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.deadline < 0:
            raise ValueError(f"deadline must not be negative, got {self.deadline}")

    def next_delay(
        self, error: SemsearchError, attempt: int, elapsed: float, rand: Callable[[], float] = random.random
    ) -> float | None:
        """Seconds to wait before another try after ``attempt`` (1-based) failed with ``error``
        ``elapsed`` seconds after the first attempt started; None when not to retry."""
        if not isinstance(error, UnavailableError) or error.retry_delay is None:
            return None  # not a server refusal that asked to come back later
        if attempt >= self.max_attempts:
            return None
        delay = self.backoff.delay(attempt - 1, after=error.retry_delay, rand=rand)
        if elapsed + delay > self.deadline:
            return None
        return delay

    def _announce(self, error: SemsearchError, attempt: int, delay: float) -> None:
        log.info(
            "call_refused_retrying reason=%s attempt=%d delay_seconds=%.3f", error.reason, attempt, delay
        )
        if self.on_retry is not None:
            self.on_retry(error, delay)

    def run(self, call: Callable[[], T], sleep: Callable[[float], None] = time.sleep) -> T:
        """Call ``call`` until it succeeds, fails without a retryable refusal, or the budget ends."""
        started = time.monotonic()
        attempt = 1
        while True:
            try:
                return call()
            except SemsearchError as error:
                delay = self.next_delay(error, attempt, time.monotonic() - started)
                if delay is None:
                    raise
                self._announce(error, attempt, delay)
            sleep(delay)
            attempt += 1

    async def run_async(self, call: Callable[[], Awaitable[T]]) -> T:
        """The same loop for coroutines; cancelling the caller cancels a pending wait at once."""
        started = time.monotonic()
        attempt = 1
        while True:
            try:
                return await call()
            except SemsearchError as error:
                delay = self.next_delay(error, attempt, time.monotonic() - started)
                if delay is None:
                    raise
                self._announce(error, attempt, delay)
            await asyncio.sleep(delay)
            attempt += 1
