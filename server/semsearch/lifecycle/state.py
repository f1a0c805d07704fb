"""Index states and the transitions the lifecycle allows between them."""

from __future__ import annotations

import enum


class IndexState(enum.Enum):
    READY = "READY"  # built in the current space; serves searches
    PARKED = "PARKED"  # not built in the current space; does not serve
    REBUILDING = "REBUILDING"  # a rebuild in the current space runs; does not serve


# READY -> READY is a swap of a freshly built index (a source change inside the same space).
ALLOWED_TRANSITIONS: dict[IndexState, frozenset[IndexState]] = {
    IndexState.PARKED: frozenset({IndexState.REBUILDING}),
    IndexState.REBUILDING: frozenset({IndexState.READY, IndexState.PARKED}),
    IndexState.READY: frozenset({IndexState.PARKED, IndexState.READY}),
}


class IllegalTransition(RuntimeError):
    """A transition outside ALLOWED_TRANSITIONS: a bug in the caller, never silently applied."""


def check_transition(index: str, old: IndexState, new: IndexState) -> None:
    if new not in ALLOWED_TRANSITIONS[old]:
        raise IllegalTransition(f"index {index!r}: {old.value} -> {new.value} is not allowed")
