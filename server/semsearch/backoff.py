"""Exponential backoff ceilings that stay finite however long an outage lasts."""

from __future__ import annotations

# Past this many doublings every practical cap has long applied; 2.0 ** 1024 overflows a float,
# and a provider or database away for hours must not end a retry loop with an OverflowError.
MAX_DOUBLINGS = 60


def backoff_ceiling(base: float, cap: float, doublings: int) -> float:
    """``min(cap, base * 2 ** doublings)`` for any number of doublings (negative ones halve)."""
    return min(cap, base * 2.0 ** min(doublings, MAX_DOUBLINGS))
