"""A build's pace: chunks embedded per second lately, and the seconds left at that pace.

The pace is measured over the latest batches rather than since the start: a build that waited for
a smaller one to finish first (the provider's batches go smallest build first), or that the
provider served faster once other builds ended, reports the pace it has now.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

WINDOW = 16  # batches the pace is measured over


class Pace:
    def __init__(self, remaining: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.remaining = remaining  # chunks still to embed
        self._clock = clock
        self._embedded = 0
        self._samples: deque[tuple[float, int]] = deque([(clock(), 0)], maxlen=WINDOW + 1)

    def embedded(self, count: int) -> None:
        """``count`` more chunks were embedded just now."""
        self._embedded += count
        self.remaining = max(0, self.remaining - count)
        self._samples.append((self._clock(), self._embedded))

    @property
    def rate(self) -> float:
        """Chunks per second over the window; 0 until a batch was answered."""
        (then, before), (now, after) = self._samples[0], self._samples[-1]
        if after == before or now <= then:
            return 0.0
        return (after - before) / (now - then)

    @property
    def seconds_left(self) -> float | None:
        """At the current rate; None until there is one (0 once nothing is left)."""
        if self.remaining == 0:
            return 0.0
        rate = self.rate
        return self.remaining / rate if rate > 0 else None
