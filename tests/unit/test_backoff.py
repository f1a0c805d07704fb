"""Server-side backoff ceilings: exponential, capped, and finite after any number of failures."""

from __future__ import annotations

import pytest

from semsearch.backoff import backoff_ceiling


@pytest.mark.parametrize(("doublings", "expected"), [(-1, 0.05), (0, 0.1), (3, 0.8), (6, 5.0), (60, 5.0)])
def test_the_ceiling_doubles_until_the_cap(doublings: int, expected: float) -> None:
    assert backoff_ceiling(0.1, 5.0, doublings) == pytest.approx(expected)


@pytest.mark.parametrize("doublings", [1023, 1024, 1025, 10**6])
def test_an_outage_of_any_length_keeps_the_cap(doublings: int) -> None:
    # 0.1 * 2 ** 1024 raises OverflowError: a retry loop counting its failures reaches it in time.
    assert backoff_ceiling(0.1, 5.0, doublings) == 5.0
