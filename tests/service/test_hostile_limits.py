"""Hostile gRPC input at the documented limits, one by one: message size, query length, top_k,
index names and filter size, each accepted at its bound and refused one past it, and the cap on
open WatchIndexes streams.

The server and the rules every answer obeys are in tests/support/hostile.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest

from semsearch.api.v1 import admin_pb2, search_pb2
from semsearch.config import ServerConfig
from semsearch.search.query import MAX_FILTER_ENTRIES, MAX_INDEX_NAMES, MAX_QUERY_CHARS, MAX_TOP_K
from tests.support.hostile import CALL_TIMEOUT, Clients, assert_alive, outcome


def refusal(clients: Clients, call: Callable[[], Any]) -> Any:
    code, got = outcome(clients, "limit", call)
    assert code is not grpc.StatusCode.OK, "accepted beyond the limit"
    return got


def test_the_request_size_limit_is_resource_exhausted(clients: Clients) -> None:
    request = search_pb2.SearchRequest(query="x" * (5 * 1024 * 1024))
    got = refusal(clients, lambda: clients.search.Search(request, timeout=CALL_TIMEOUT))
    assert got.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert_alive(clients.channel)


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        (search_pb2.SearchRequest(query="q" * (MAX_QUERY_CHARS + 1)), "INVALID_QUERY"),
        (search_pb2.SearchRequest(query="q", top_k=MAX_TOP_K + 1), "INVALID_TOP_K"),
        (search_pb2.SearchRequest(query="q", top_k=-1), "INVALID_TOP_K"),
        (
            search_pb2.SearchRequest(query="q", indexes=["runbooks"] * (MAX_INDEX_NAMES + 1)),
            "INVALID_INDEXES",
        ),
        (search_pb2.SearchRequest(query="q", filter={f"k{i}": "v" for i in range(17)}), "INVALID_FILTER"),
    ],
    ids=["query_chars", "top_k_high", "top_k_negative", "index_names", "filter_entries"],
)
def test_each_limit_is_refused_one_past_it(
    clients: Clients, request_: search_pb2.SearchRequest, reason: str
) -> None:
    got = refusal(clients, lambda: clients.search.Search(request_, timeout=CALL_TIMEOUT))
    assert got.code is grpc.StatusCode.INVALID_ARGUMENT
    assert got.error_info.reason == reason
    assert got.bad_request is not None and got.bad_request.field_violations


def test_each_limit_is_accepted_at_it(clients: Clients) -> None:
    at_limits = search_pb2.SearchRequest(
        query="q" * MAX_QUERY_CHARS,
        top_k=MAX_TOP_K,
        indexes=["runbooks"] * MAX_INDEX_NAMES,
        filter={f"k{i}": "v" for i in range(MAX_FILTER_ENTRIES)},
        min_score=-1.0,
    )
    code, _ = outcome(clients, "limit", lambda: clients.search.Search(at_limits, timeout=CALL_TIMEOUT))
    assert code is grpc.StatusCode.OK


def test_watch_streams_are_limited(clients: Clients) -> None:
    """One stream past ``[server] max_watch_streams`` is refused, with a reason and a retry hint;
    once a stream closes, a new one is let in."""
    limit = ServerConfig().max_watch_streams
    streams = []
    try:
        for _ in range(limit):
            stream = clients.admin.WatchIndexes(admin_pb2.WatchIndexesRequest(), timeout=120)
            next(stream)  # subscribed: its snapshot arrived
            streams.append(stream)
        extra = clients.admin.WatchIndexes(admin_pb2.WatchIndexesRequest(), timeout=CALL_TIMEOUT)
        got = refusal(clients, lambda: next(extra))
        assert got.code is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert got.error_info.reason == "TOO_MANY_WATCH_STREAMS"
        assert got.retry_info is not None
        streams.pop().cancel()
        # The slot is free once the server has seen the cancellation; until then a retry is refused.
        for _ in range(500):
            again = clients.admin.WatchIndexes(admin_pb2.WatchIndexesRequest(), timeout=CALL_TIMEOUT)
            streams.append(again)
            try:
                assert next(again).HasField("snapshot")
                break
            except grpc.RpcError as error:
                assert isinstance(error, grpc.Call) and error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        else:
            raise AssertionError("a closed stream never gave its place back")
    finally:
        for stream in streams:
            stream.cancel()
    assert_alive(clients.channel)
