"""Hostile gRPC input: generated requests, garbage bytes and every documented limit, against one server.

One real server (in a thread of its own, with its own event loop, embedding with the real hash
provider app) serves the whole module; the tests talk to it through blocking stubs, so hypothesis
drives plain functions. Required of every answer: never INTERNAL or UNKNOWN, a rejection is
INVALID_ARGUMENT or NOT_FOUND (RESOURCE_EXHAUSTED for what exceeds a size or stream limit) with a
google.rpc.ErrorInfo naming the reason, a valid request is answered, and the server stays up.

Undecodable bodies are the one case the server never sees: grpc's own deserializer rejects them
before any handler runs, with UNKNOWN and the message "Unexpected <class
'google.protobuf.message.DecodeError'>: Error parsing message with type '…'" — no stack trace.
"""

from __future__ import annotations

import asyncio
import math
import threading
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import message as protobuf_message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from semsearch.api.v1 import admin_pb2, admin_pb2_grpc, search_pb2, search_pb2_grpc
from semsearch.app import RunningApp, running
from semsearch.config import ServerConfig
from semsearch.proxy.app import create_app
from semsearch.query import (
    MAX_FILTER_CHARS,
    MAX_FILTER_ENTRIES,
    MAX_INDEX_NAMES,
    MAX_QUERY_CHARS,
    MAX_TOP_K,
)
from semsearch.service.errors import ERROR_DOMAIN
from tests.support.corpora import FIXTURE_INDEXES
from tests.support.server import fixture_config
from tests.support.status import failure
from tests.support.waiting import wait_all_ready

INDEXES = [ix["name"] for ix in FIXTURE_INDEXES]
CALL_TIMEOUT = 30.0
SETTINGS = settings(
    deadline=None,
    database=None,  # no example files left in the checkout
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


def examples(count: int) -> settings:
    return settings(SETTINGS, max_examples=count)


REJECTED = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND}
OUTCOMES: Counter[str] = Counter()  # "method STATUS" -> calls, printed when the module ends


@dataclass
class ThreadedServer:
    """The server on an event loop of its own, so blocking stubs (and hypothesis) can drive it."""

    port: int = 0
    app: RunningApp | None = None
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    started: threading.Event = field(default_factory=threading.Event)
    failed: list[BaseException] = field(default_factory=list)
    _stop: asyncio.Event | None = None

    def run(self) -> None:
        try:
            self.loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported by the fixture, never swallowed
            self.failed.append(exc)
            self.started.set()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        config = fixture_config("http://provider.test/v1")
        provider = httpx.ASGITransport(app=create_app("hash-v1"))
        async with running(config, provider_transport=provider) as app:
            await wait_all_ready(app.manager)
            self.app, self.port = app, app.port
            self.started.set()
            await self._stop.wait()

    def stop(self) -> None:
        assert self._stop is not None
        self.loop.call_soon_threadsafe(self._stop.set)


@dataclass
class Clients:
    server: ThreadedServer
    channel: grpc.Channel
    search: search_pb2_grpc.SearchServiceStub
    admin: admin_pb2_grpc.AdminServiceStub


@pytest.fixture(scope="module")
def clients() -> Iterator[Clients]:
    server = ThreadedServer()
    thread = threading.Thread(target=server.run, name="hostile-input-server", daemon=True)
    thread.start()
    assert server.started.wait(120), "the server did not start"
    assert not server.failed, server.failed
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        yield Clients(
            server,
            channel,
            search_pb2_grpc.SearchServiceStub(channel),
            admin_pb2_grpc.AdminServiceStub(channel),
        )
        assert_alive(channel)  # nothing of the above brought it down
    finally:
        channel.close()
        server.stop()
        thread.join(60)
        assert not thread.is_alive(), "the server did not stop"
        assert not server.failed, server.failed
    total = sum(OUTCOMES.values())
    summary = ", ".join(f"{key}: {count}" for key, count in sorted(OUTCOMES.items()))
    print(f"\nhostile input: {total} calls; {summary}")  # the figures for the reliability report


def assert_alive(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    answer = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=CALL_TIMEOUT)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    response = search_pb2_grpc.SearchServiceStub(channel).Search(
        search_pb2.SearchRequest(query="restart the validator"), timeout=CALL_TIMEOUT
    )
    assert response.hits


def outcome(clients: Clients, method: str, call: Callable[[], Any]) -> tuple[grpc.StatusCode, Any]:
    """Call, and check a failure the way every client may rely on: a documented code and an
    ErrorInfo in the semsearch.v1 domain. Returns the code and the answer (or the Failure)."""
    try:
        answer = call()
    except grpc.RpcError as error:
        assert isinstance(error, grpc.Call)
        code = error.code()
        OUTCOMES[f"{method} {code.name}"] += 1
        assert code not in {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}, error.details()
        got = failure(error)  # type: ignore[arg-type]
        if code is not grpc.StatusCode.RESOURCE_EXHAUSTED or got.error_info is not None:
            assert got.error_info is not None, f"{code.name} without ErrorInfo: {error.details()}"
            assert got.error_info.domain == ERROR_DOMAIN and got.error_info.reason, got
        assert "Traceback" not in (error.details() or "")
        return code, got
    OUTCOMES[f"{method} OK"] += 1
    return grpc.StatusCode.OK, answer


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
    if any(unicodedata.category(c) == "Cc" and c not in "\t\n\r" for c in text):
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
    if request.mode not in KNOWN_MODES:
        reasons.add("INVALID_MODE")
    return reasons


@examples(220)
@given(request=search_requests())
def test_generated_searches_are_answered_or_refused_by_the_rules(
    clients: Clients, request: search_pb2.SearchRequest
) -> None:
    code, answer = outcome(clients, "Search", lambda: clients.search.Search(request, timeout=CALL_TIMEOUT))
    violations = search_violations(request)
    unknown = {name for name in request.indexes if name.strip() and name not in INDEXES}
    if code is grpc.StatusCode.OK:
        assert not violations - {"INVALID_MODE"}, f"answered although {violations}"
        assert not unknown, f"answered although {unknown} do not exist"
        assert len(answer.hits) <= (request.top_k or 10)
        return
    assert code in REJECTED
    reason = answer.error_info.reason
    if code is grpc.StatusCode.NOT_FOUND:
        assert reason == "INDEX_NOT_FOUND" and unknown and not violations - {"INVALID_MODE"}
    else:  # an unknown mode may be refused under a reason of the server's choosing
        assert reason in violations or "INVALID_MODE" in violations, (
            f"refused with {reason}, not {violations}"
        )


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
    if len(set(names)) > MAX_INDEX_NAMES:
        assert code is grpc.StatusCode.INVALID_ARGUMENT
    elif all(name in INDEXES for name in names):
        assert code is grpc.StatusCode.OK
        assert {ix.name for ix in answer.snapshot.indexes} == (set(names) or set(INDEXES))
    else:
        assert code is grpc.StatusCode.NOT_FOUND


# -- bytes that are not a request -----------------------------------------------------------------

METHODS = {
    "/semsearch.v1.SearchService/Search": search_pb2.SearchRequest,
    "/semsearch.v1.AdminService/GetIndex": admin_pb2.GetIndexRequest,
    "/semsearch.v1.AdminService/ListIndexes": admin_pb2.ListIndexesRequest,
    "/semsearch.v1.AdminService/GetEmbeddingSpace": admin_pb2.GetEmbeddingSpaceRequest,
}


@examples(60)
@given(method=st.sampled_from(sorted(METHODS)), body=st.binary(max_size=512))
def test_garbage_bytes_are_refused_without_a_trace(clients: Clients, method: str, body: bytes) -> None:
    """Bytes that do not decode are refused by grpc itself (UNKNOWN, a one-line message); bytes that
    happen to decode are a request like any other and follow the rules."""
    call = clients.channel.unary_unary(method)  # no serializers: the body goes out as given
    try:
        METHODS[method].FromString(body)
        decodes = True
    except protobuf_message.DecodeError:
        decodes = False
    try:
        call(body, timeout=CALL_TIMEOUT)
    except grpc.RpcError as error:
        assert isinstance(error, grpc.Call)
        code, details = error.code(), error.details() or ""
        OUTCOMES[f"garbage {code.name}"] += 1
        assert "Traceback" not in details and 'File "' not in details
        if decodes:
            assert code in REJECTED, (code, details)
        else:
            assert code is grpc.StatusCode.UNKNOWN and "DecodeError" in details, (code, details)
        return
    OUTCOMES["garbage OK"] += 1
    assert decodes, "an undecodable body was answered"


# -- the documented limits, one by one ------------------------------------------------------------


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
