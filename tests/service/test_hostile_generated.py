"""Hostile gRPC input, generated: requests with each field plausible or hostile (huge, empty and
control-character strings, thousands of index names, extreme top_k, NaN and infinite min_score,
odd filters, unknown modes), each answered or refused exactly as the documented limits say.

The server and the rules every answer obeys are in tests/support/hostile.py.
"""

from __future__ import annotations

import math
import unicodedata
from typing import Any

import grpc
from hypothesis import given
from hypothesis import strategies as st

from semsearch.api.v1 import admin_pb2, search_pb2
from semsearch.search.query import (
    MAX_FILTER_CHARS,
    MAX_FILTER_ENTRIES,
    MAX_INDEX_NAMES,
    MAX_QUERY_CHARS,
    MAX_TOP_K,
)
from tests.support.hostile import CALL_TIMEOUT, INDEXES, REJECTED, Clients, examples, outcome

# -- what a client may send --------------------------------------------------------------------

ODD_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", categories=["L", "M", "N", "P", "S", "Z", "Cc", "Cf", "Co"]),
    max_size=40,
)
HUGE_TEXT = st.integers(MAX_QUERY_CHARS - 2, MAX_QUERY_CHARS * 8).map(lambda n: "é" * n)
TEXT = st.one_of(
    st.sampled_from(
        ["", " ", "\t\n", "restart the validator", "blob fee market", "\x00", "a\x1bb", "\u2028"]
    ),
    ODD_TEXT,
    HUGE_TEXT,
)
NAMES = st.one_of(st.sampled_from([*INDEXES, "", " ", "RUNBOOKS", "runbooks ", "../eips"]), ODD_TEXT)
NAME_LISTS = st.one_of(
    st.lists(NAMES, max_size=5),
    st.lists(st.sampled_from(INDEXES), min_size=MAX_INDEX_NAMES - 1, max_size=MAX_INDEX_NAMES + 1),
    st.integers(MAX_INDEX_NAMES, 3000).map(lambda n: [INDEXES[i % len(INDEXES)] for i in range(n)]),
    st.integers(1, 3000).map(lambda n: [f"index-{i}" for i in range(n)]),
)
TOP_K = st.one_of(
    st.sampled_from([-(2**31), -1, 0, 1, MAX_TOP_K, MAX_TOP_K + 1, 2**31 - 1]),
    st.integers(-(2**31), 2**31 - 1),
)
MIN_SCORE = st.one_of(
    st.none(),
    st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 0.0, -1.0, 1.0, 1.0000001, -1.0000001]),
    st.floats(width=32),
)
FILTERS = st.one_of(
    st.dictionaries(st.sampled_from(["kind", "tags", "status", "fork", ""]), ODD_TEXT, max_size=3),
    st.dictionaries(ODD_TEXT, ODD_TEXT, max_size=MAX_FILTER_ENTRIES + 4),
    st.dictionaries(
        st.text(min_size=MAX_FILTER_CHARS - 1, max_size=MAX_FILTER_CHARS + 1), st.just("x"), max_size=2
    ),
)
MODES = st.sampled_from([0, 1, 2, 3, 4, 99, -1, 2**31 - 1])
KNOWN_MODES = {0, 1, 2, 3}


PLAIN_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", categories=["L", "M", "N", "P", "S", "Zs"]), min_size=1, max_size=60
)
# Requests a client may well send: each field within the documented limits, so most are answered.
PLAUSIBLE = {
    "query": st.one_of(
        st.sampled_from(["restart the validator", "blob fee market", "fork choice"]), PLAIN_TEXT
    ),
    "indexes": st.lists(st.sampled_from(INDEXES), max_size=6),
    "top_k": st.integers(0, MAX_TOP_K),
    "filter": st.dictionaries(st.sampled_from(["kind", "tags", "status", "fork"]), PLAIN_TEXT, max_size=2),
    "min_score": st.one_of(st.none(), st.floats(-1.0, 1.0, width=32)),
    "mode": st.sampled_from(sorted(KNOWN_MODES)),
}
HOSTILE = {
    "query": TEXT,
    "indexes": NAME_LISTS,
    "top_k": TOP_K,
    "filter": FILTERS,
    "min_score": MIN_SCORE,
    "mode": MODES,
}


@st.composite
def search_requests(draw: st.DrawFn) -> search_pb2.SearchRequest:
    """Each field plausible or hostile on its own, so one bad field at a time is common too."""

    def field_value(name: str) -> Any:
        return draw(st.one_of(PLAUSIBLE[name], HOSTILE[name]) if draw(st.booleans()) else PLAUSIBLE[name])

    request = search_pb2.SearchRequest(
        query=field_value("query"),
        indexes=field_value("indexes"),
        top_k=field_value("top_k"),
        filter=field_value("filter"),
        all_chunks=draw(st.booleans()),
        mode=field_value("mode"),  # proto3 enums are open: any int32 arrives
        allow_degraded=draw(st.booleans()),
    )
    score = field_value("min_score")
    if score is not None:
        request.min_score = score
    return request


def search_violations(request: search_pb2.SearchRequest) -> set[str]:
    """The reasons the documented limits give for refusing ``request`` (empty: it must be answered).

    Written from the documentation (README, proto comments), not from the server's code."""
    reasons = set()
    text = request.query
    if not text.strip() or len(text) > MAX_QUERY_CHARS:
        reasons.add("INVALID_QUERY")
    if controls(text):
        reasons.add("INVALID_QUERY")
    if not 0 <= request.top_k <= MAX_TOP_K:
        reasons.add("INVALID_TOP_K")
    if request.HasField("min_score") and not (
        math.isfinite(request.min_score) and -1.0 <= request.min_score <= 1.0
    ):
        reasons.add("INVALID_MIN_SCORE")
    if len(request.indexes) > MAX_INDEX_NAMES or any(not name.strip() for name in request.indexes):
        reasons.add("INVALID_INDEXES")
    if len(request.filter) > MAX_FILTER_ENTRIES or any(
        not key or len(key) > MAX_FILTER_CHARS or len(value) > MAX_FILTER_CHARS
        for key, value in request.filter.items()
    ):
        reasons.add("INVALID_FILTER")
    if any(controls(key) or controls(value) for key, value in request.filter.items()):
        reasons.add("INVALID_FILTER")
    if request.mode not in KNOWN_MODES:
        reasons.add("INVALID_MODE")
    return reasons


def controls(text: str) -> bool:
    """C0 and C1 controls and DEL; tabs and line breaks are allowed (the searching guide)."""
    return any(unicodedata.category(c) == "Cc" and c not in "\t\n\r" for c in text)


@examples(220)
@given(request=search_requests())
def test_generated_searches_are_answered_or_refused_by_the_rules(
    clients: Clients, request: search_pb2.SearchRequest
) -> None:
    code, answer = outcome(clients, "Search", lambda: clients.search.Search(request, timeout=CALL_TIMEOUT))
    violations = search_violations(request)
    unknown = {name for name in request.indexes if name.strip() and name not in INDEXES}
    if code is grpc.StatusCode.OK:
        assert not violations, f"answered although {violations}"
        assert not unknown, f"answered although {unknown} do not exist"
        assert len(answer.hits) <= (request.top_k or 10)
        return
    assert code in REJECTED
    reason = answer.error_info.reason
    if code is grpc.StatusCode.NOT_FOUND:
        assert reason == "INDEX_NOT_FOUND" and unknown and not violations
    else:
        assert reason in violations, f"refused with {reason}, not {violations}"


@examples(50)
@given(name=st.one_of(NAMES, HUGE_TEXT))
def test_generated_index_lookups(clients: Clients, name: str) -> None:
    request = admin_pb2.GetIndexRequest(name=name)
    code, answer = outcome(clients, "GetIndex", lambda: clients.admin.GetIndex(request, timeout=CALL_TIMEOUT))
    if name in INDEXES:
        assert code is grpc.StatusCode.OK and answer.index.name == name
    elif not name:
        assert code is grpc.StatusCode.INVALID_ARGUMENT
    else:
        assert code in REJECTED
        assert len(answer.message) < 1024  # never echoes a huge name back


@examples(50)
@given(names=NAME_LISTS, reason=TEXT)
def test_generated_reindex_requests(clients: Clients, names: list[str], reason: str) -> None:
    request = admin_pb2.ReindexRequest(indexes=names, reason=reason)
    code, answer = outcome(clients, "Reindex", lambda: clients.admin.Reindex(request, timeout=CALL_TIMEOUT))
    if len(names) > MAX_INDEX_NAMES:
        assert code is grpc.StatusCode.INVALID_ARGUMENT
    elif all(name in INDEXES for name in names):
        assert code is grpc.StatusCode.OK
        assert {ix.name for ix in answer.indexes} == (set(names) or set(INDEXES))
    else:
        assert code in REJECTED


@examples(50)
@given(names=NAME_LISTS)
def test_generated_watch_requests(clients: Clients, names: list[str]) -> None:
    request = admin_pb2.WatchIndexesRequest(indexes=names)

    def first_message() -> admin_pb2.WatchIndexesResponse:
        stream = clients.admin.WatchIndexes(request, timeout=CALL_TIMEOUT)
        try:
            return next(stream)
        finally:
            stream.cancel()

    code, answer = outcome(clients, "WatchIndexes", first_message)
    if len(names) > MAX_INDEX_NAMES:  # duplicates count, as in Search
        assert code is grpc.StatusCode.INVALID_ARGUMENT
        assert answer.error_info.reason == "INVALID_INDEXES"
    elif all(name in INDEXES for name in names):
        assert code is grpc.StatusCode.OK
        assert {ix.name for ix in answer.snapshot.indexes} == (set(names) or set(INDEXES))
    else:
        assert code is grpc.StatusCode.NOT_FOUND
