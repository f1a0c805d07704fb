"""Exponential backoff with jitter, shared by the watch resubscription and the refusal retry."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before retry ``attempt`` (0-based): ``min(maximum, initial * multiplier**attempt)``,
    scaled by a random factor in ``[1 - jitter, 1]``.

    The jitter spreads clients that failed together (a server restart drops every watcher at once)
    so they do not all come back in the same instant.
    """

    initial: float = 0.2
    maximum: float = 15.0
    multiplier: float = 2.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.maximum:
            raise ValueError(f"need 0 < initial <= maximum, got {self.initial} and {self.maximum}")
        if self.multiplier < 1:
            raise ValueError(f"multiplier must be at least 1, got {self.multiplier}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must lie in [0, 1], got {self.jitter}")

    def delay(self, attempt: int, *, after: float = 0.0, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry ``attempt``; ``after`` is a server-given minimum added in front
        (RetryInfo says "not before this"; the jittered part still spreads the retries)."""
        if attempt < 0:
            raise ValueError(f"attempt must not be negative, got {attempt}")
        # Cap the exponent: a long outage must not overflow the float.
        grown = self.initial * self.multiplier ** min(attempt, 64)
        return max(after, 0.0) + min(self.maximum, grown) * (1 - self.jitter * rand())
