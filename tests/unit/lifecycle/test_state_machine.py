"""The transition table, checked exhaustively: every legal move is allowed, every other one raises."""

from __future__ import annotations

import itertools

import pytest

from semsearch.lifecycle import IllegalTransition, IndexSlot, IndexState
from semsearch.lifecycle.state import ALLOWED_TRANSITIONS, check_transition

READY, PARKED, REBUILDING = IndexState.READY, IndexState.PARKED, IndexState.REBUILDING
LEGAL = {(PARKED, REBUILDING), (REBUILDING, READY), (REBUILDING, PARKED), (READY, PARKED), (READY, READY)}


def test_the_table_is_exactly_the_designed_one() -> None:
    assert {(old, new) for old, news in ALLOWED_TRANSITIONS.items() for new in news} == LEGAL


@pytest.mark.parametrize(("old", "new"), list(itertools.product(IndexState, IndexState)))
def test_each_transition(old: IndexState, new: IndexState) -> None:
    slot = IndexSlot("ix", "markdown", (), state=old)
    if (old, new) in LEGAL:
        assert slot.move(new) is old
        assert slot.state is new
    else:
        with pytest.raises(IllegalTransition, match=f"{old.value} -> {new.value}"):
            slot.move(new)
        assert slot.state is old  # never silently overwritten


def test_progress_is_cleared_when_leaving_rebuilding() -> None:
    from semsearch.lifecycle import Progress

    slot = IndexSlot("ix", "markdown", (), state=PARKED)
    slot.move(REBUILDING)
    slot.set_progress(Progress(3, 10))
    assert slot.status().progress == Progress(3, 10)
    slot.move(READY)
    assert slot.status().progress is None


def test_check_transition_names_the_index() -> None:
    with pytest.raises(IllegalTransition, match="'eips'"):
        check_transition("eips", PARKED, READY)
