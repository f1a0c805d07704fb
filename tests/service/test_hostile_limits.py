"""Hostile gRPC input at the documented limits, one by one: request size, query length, top_k,
index names and filter size, each accepted at its bound and refused one past it, filters with
control characters, unknown modes, and the cap on open WatchIndexes streams.

The server and the rules every answer obeys are in tests/support/hostile.py.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import grpc
import pytest

from semsearch.api.v1 import admin_pb2, search_pb2
from semsearch.config import ServerConfig
from semsearch.search.query import MAX_FILTER_ENTRIES, MAX_INDEX_NAMES, MAX_QUERY_CHARS, MAX_TOP_K
from semsearch.service.decoding import MAX_REQUEST_BYTES, RECEIVE_LIMIT_BYTES
from tests.support.hostile import CALL_TIMEOUT, Clients, assert_alive, outcome


def refusal(clients: Clients, call: Callable[[], Any]) -> Any:
    code, got = outcome(clients, "limit", call)
    assert code is not grpc.StatusCode.OK, "accepted beyond the limit"
    return got


def query_of_size(size: int) -> search_pb2.SearchRequest:
    """A SearchRequest whose body is exactly ``size`` bytes: all of it the query."""
    request = search_pb2.SearchRequest(query="x" * (size - 5))  # tag, 4-byte length, the text
    assert request.ByteSize() == size
    return request


def test_a_request_over_the_size_limit_is_resource_exhausted_with_a_reason(clients: Clients) -> None:
    at_limit = query_of_size(MAX_REQUEST_BYTES)  # read and decoded: the query itself is too long
    got = refusal(clients, lambda: clients.search.Search(at_limit, timeout=CALL_TIMEOUT))
    assert (got.code, got.error_info.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_QUERY")
    for size in (MAX_REQUEST_BYTES + 1, 5 * 1024 * 1024, RECEIVE_LIMIT_BYTES):
        request = query_of_size(size)
        got = refusal(clients, functools.partial(clients.search.Search, request, timeout=CALL_TIMEOUT))
        assert (got.code, got.error_info.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "REQUEST_TOO_LARGE")
        assert got.error_info.metadata["limit"] == str(MAX_REQUEST_BYTES)
        assert got.retry_info is None  # the same request fails the same way
    assert_alive(clients.channel)


def test_past_the_transport_limit_grpc_refuses_without_error_info(clients: Clients) -> None:
    """Documented: grpc core reads at most RECEIVE_LIMIT_BYTES and refuses more by itself, before
    any semsearch code runs, so that refusal carries no ErrorInfo."""
    request = query_of_size(RECEIVE_LIMIT_BYTES + 1)
    got = refusal(clients, lambda: clients.search.Search(request, timeout=CALL_TIMEOUT))
    assert (got.code, got.error_info) == (grpc.StatusCode.RESOURCE_EXHAUSTED, None)
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
        (search_pb2.SearchRequest(query="q", filter={"kind\x00": "v"}), "INVALID_FILTER"),
        (search_pb2.SearchRequest(query="q", filter={"kind": "\x1b[2Jv"}), "INVALID_FILTER"),
        # proto3 enums are open: an int the contract does not name arrives, and is refused.
        (search_pb2.SearchRequest(query="q", mode=4), "INVALID_MODE"),
        (search_pb2.SearchRequest(query="q", mode=-1), "INVALID_MODE"),
    ],
    ids=[
        "query_chars",
        "top_k_high",
        "top_k_negative",
        "index_names",
        "filter_entries",
        "filter_key_control",
        "filter_value_control",
        "mode_unknown",
        "mode_negative",
    ],
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


def test_watch_counts_index_names_as_search_does(clients: Clients) -> None:
    """Duplicates count toward the limit of index names, in WatchIndexes as in Search."""
    at_limit = admin_pb2.WatchIndexesRequest(indexes=["runbooks"] * MAX_INDEX_NAMES)
    stream = clients.admin.WatchIndexes(at_limit, timeout=CALL_TIMEOUT)
    try:
        assert [ix.name for ix in next(stream).snapshot.indexes] == ["runbooks"]
    finally:
        stream.cancel()
    past = admin_pb2.WatchIndexesRequest(indexes=["runbooks"] * (MAX_INDEX_NAMES + 1))
    got = refusal(clients, lambda: next(clients.admin.WatchIndexes(past, timeout=CALL_TIMEOUT)))
    assert (got.code, got.error_info.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_INDEXES")
    search = search_pb2.SearchRequest(query="q", indexes=["runbooks"] * (MAX_INDEX_NAMES + 1))
    got = refusal(clients, lambda: clients.search.Search(search, timeout=CALL_TIMEOUT))
    assert (got.code, got.error_info.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_INDEXES")


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
