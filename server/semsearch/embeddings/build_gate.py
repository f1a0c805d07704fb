"""How many build batches may be at the provider at once: one gate per provider, shared by every
build, adaptive, and never in the way of a query.

Queries do not pass through the gate: they go to the provider at once. The gate keeps builds from
filling the provider so that queries queue behind their batches. Its limit starts at the
configured concurrency and is halved when a query comes back much slower than queries do at best
(the provider is busy with batches) or a batch fails for want of capacity (a timeout, a 429 or a
5xx); each batch answered adds ``1 / limit``, so the limit regains one slot per round of batches:
additive increase, multiplicative decrease, as TCP does with its window. The limit never goes below
one batch, so a build always moves on.

Waiting batches are admitted smallest job first: the batches of the build with the fewest texts to
embed go before those of a larger one (a small index is ready first, whatever order the builds
started in), and a job's own batches go in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from semsearch.logs import event

log = logging.getLogger(__name__)

QUERY_WINDOW = 64  # recent query round trips; the best of them stands for "the provider is free"
SLOWDOWN = 2.0  # a query slower than this many times the best one (plus the slack) is slowed down
SLACK_SECONDS = 0.02  # below this, a difference in query time is jitter, not a busy provider
DECREASE = 0.5  # the limit is multiplied by this on a slow query or a failed batch


@dataclass(order=True)
class _Waiter:
    key: tuple[int, int, int]  # (texts in its job, job number, batch position): smallest job first
    granted: asyncio.Future[None] = field(compare=False)


class BuildGate:
    """Admits build batches up to an adaptive limit; see the module docstring."""

    def __init__(self, ceiling: int, clock: Callable[[], float] = time.monotonic) -> None:
        if ceiling < 1:
            raise ValueError("a build gate admits at least one batch")
        self.ceiling = ceiling
        self.limit = float(ceiling)
        self.in_flight = 0
        self.cuts = 0  # how often the limit was cut, for tests and logs
        self._clock = clock
        self._waiting: list[_Waiter] = []
        self._jobs = itertools.count()
        self._best: deque[float] = deque(maxlen=QUERY_WINDOW)
        self._cut_at = float("-inf")

    @property
    def allowed(self) -> int:
        """Batches admitted at once now: the limit, rounded down, at least one."""
        return max(1, int(self.limit))

    @property
    def waiting(self) -> int:
        return sum(1 for waiter in self._waiting if not waiter.granted.done())

    def job(self, texts: int) -> Job:
        """A build of ``texts`` texts: its batches wait in line with its size."""
        return Job(self, texts, next(self._jobs))

    def now(self) -> float:
        return self._clock()

    # -- admission -----------------------------------------------------------------------------
    async def _acquire(self, key: tuple[int, int, int]) -> None:
        waiter = _Waiter(key, asyncio.get_running_loop().create_future())
        heapq.heappush(self._waiting, waiter)
        self._admit()  # at once when there is room and nothing smaller waits
        try:
            await waiter.granted
        except asyncio.CancelledError:
            if waiter.granted.done() and not waiter.granted.cancelled():
                self._release()  # admitted, then cancelled before it ran: the slot goes on
            raise

    def _release(self) -> None:
        self.in_flight -= 1
        self._admit()

    def _admit(self) -> None:
        while self._waiting and self.in_flight < self.allowed:
            waiter = heapq.heappop(self._waiting)
            if waiter.granted.done():
                continue  # cancelled while it waited
            waiter.granted.set_result(None)
            self.in_flight += 1

    # -- signals -------------------------------------------------------------------------------
    def query_answered(self, started: float, seconds: float) -> None:
        """A query's round trip (``started`` on this gate's clock). A slow one while batches are in
        flight cuts the limit, once per round: a query sent before the last cut cannot show it."""
        best = min(self._best) if self._best else None
        self._best.append(seconds)
        if best is None or self.in_flight == 0:
            return
        if seconds > SLOWDOWN * best + SLACK_SECONDS and started > self._cut_at:
            self._cut(f"a query took {seconds:.3f}s, the best recent one {best:.3f}s")

    def batch_answered(self) -> None:
        """A batch answered: the limit grows by one slot per round of batches, up to the ceiling."""
        if self.limit < self.ceiling:
            self.limit = min(float(self.ceiling), self.limit + 1 / self.limit)
            self._admit()

    def batch_strained(self, started: float) -> None:
        """A batch sent at ``started`` failed for want of capacity (timeout, 429, 5xx)."""
        if started > self._cut_at:
            self._cut("a build batch met an overloaded or failing provider")

    def _cut(self, why: str) -> None:
        before = self.allowed
        self.limit = max(1.0, self.limit * DECREASE)
        self._cut_at = self._clock()
        self.cuts += 1
        if self.allowed != before:
            event(
                log,
                "build_concurrency_lowered",
                level=logging.DEBUG,
                batches=self.allowed,
                was=before,
                reason=why,
            )


@dataclass(frozen=True)
class Job:
    """One call's batches in the gate's line; ``slot(position)`` holds one admission."""

    gate: BuildGate
    texts: int
    number: int

    @contextlib.asynccontextmanager
    async def slot(self, position: int) -> AsyncIterator[None]:
        await self.gate._acquire((self.texts, self.number, position))
        try:
            yield
        finally:
            self.gate._release()
