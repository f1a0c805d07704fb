"""The provider fault matrix: every fault between server and provider, alone and during a rebuild.

Faults are injected at the HTTP layer (tests/support/faults.py) in front of a real hash proxy. For
each: the server keeps answering (health SERVING, admin calls work), every answered search is
re-scored by the oracle (nothing mixed), a search that meets the fault is refused with a documented
reason naming it, a rebuild that meets it leaves its index PARKED with a ``last_error`` naming it
(or recovers through retries when the fault is transient), and once the fault clears every index is
READY again in the right space.

A fault that makes the answer claim another space (a wrong echoed model, a wrong vector length) is
not a broken provider but a different one: queries are refused as EMBEDDING_SPACE_CHANGED, and
when every answer says so the server rebuilds in the space the answers claim — scoring nothing
across spaces — and back again when the fault clears.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from semsearch.api.v1 import admin_pb2, search_pb2, types_pb2
from semsearch.lifecycle import IndexState
from semsearch.proxy.launcher import ProxyProcess, start_proxy
from tests.support.faults import (
    Action,
    FaultTransport,
    Stall,
    drip,
    edited,
    first_attempts,
    is_build_batch,
    is_probe,
    is_query,
    refused,
    reset_mid_body,
    status,
    truncated,
)
from tests.support.oracle import assert_scored_in
from tests.support.server import Service, fixture_config
from tests.support.status import Failure, failure
from tests.support.waiting import wait_for

MAX_RETRIES = 1  # each request is tried twice: enough to show retries, quick to exhaust
SLOW_TIMEOUT = 0.8  # seconds; only faults that end by a timeout run with it
QUERIES = (f"{words} {n}" for n, words in enumerate(itertools.cycle(["restart the validator", "blob fee"])))
DENSE = search_pb2.SEARCH_MODE_DENSE  # scores are cosines the oracle can recompute
PARKED_OR_REBUILDING = {types_pb2.INDEX_STATE_PARKED, types_pb2.INDEX_STATE_REBUILDING}


def _extra_component(answer: dict[str, Any]) -> None:
    for item in answer["data"]:
        item["embedding"].append(0.0)  # 385 dimensions; a zero keeps every dot product as it was


def _ragged(answer: dict[str, Any]) -> None:
    answer["data"][0]["embedding"].pop()


def _impostor(answer: dict[str, Any]) -> None:
    answer["model"] = "hash-impostor"


def _one_fewer(answer: dict[str, Any]) -> None:
    answer["data"].pop()


def _poison(value: float) -> Callable[[dict[str, Any]], None]:
    def edit(answer: dict[str, Any]) -> None:
        answer["data"][0]["embedding"][7] = value

    return edit


@dataclass(frozen=True)
class Fault:
    name: str
    make: Callable[[httpx.AsyncBaseTransport], Action]  # given the transport to the real provider
    says: str  # what the refusal and ``last_error`` must name
    claims: tuple[str, int] | None = None  # the space its answers claim (model, dims), if another
    slow: bool = False  # ends only by a timeout
    transient: bool = False  # worth retrying: one failure followed by a retry recovers

    def __str__(self) -> str:
        return self.name


FAULTS = [
    Fault("connect_refused", lambda inner: refused(), "unreachable", transient=True),
    Fault("timeout", lambda inner: Stall(), "timed out", slow=True),
    Fault("slow_drip", lambda inner: drip(inner, size=8, gap=0.05), "timed out", slow=True),
    Fault("http_500", lambda inner: status(500), "HTTP 500", transient=True),
    Fault("http_502", lambda inner: status(502), "HTTP 502", transient=True),
    Fault("http_503", lambda inner: status(503), "HTTP 503", transient=True),
    Fault("http_429", lambda inner: status(429, {"Retry-After": "0.05"}), "HTTP 429", transient=True),
    Fault("reset_mid_body", reset_mid_body, "Connection reset", transient=True),
    Fault("malformed_json", truncated, "malformed"),
    Fault("wrong_vector_length", lambda inner: edited(inner, _extra_component), "385", ("hash-v1", 385)),
    Fault("ragged_vector_lengths", lambda inner: edited(inner, _ragged), "inconsistent"),
    Fault(
        "wrong_echoed_model", lambda inner: edited(inner, _impostor), "hash-impostor", ("hash-impostor", 384)
    ),
    Fault("fewer_vectors", lambda inner: edited(inner, _one_fewer), "asked for"),
    Fault("nan_in_vectors", lambda inner: edited(inner, _poison(math.nan)), "NaN"),
    Fault("inf_in_vectors", lambda inner: edited(inner, _poison(-math.inf)), "infinite"),
]


def matrix(faults: list[Fault]) -> list[Any]:
    return [pytest.param(f, id=f.name, marks=[pytest.mark.slow] if f.slow else []) for f in faults]


@pytest.fixture(scope="module")
def hash_proxy() -> Iterator[ProxyProcess]:
    """One real proxy for the whole matrix (each test switches it back to hash-v1 first): starting
    one per case would cost more than most cases. Its loop only starts and stops the child."""
    loop = asyncio.new_event_loop()
    context = start_proxy(model="hash-v1")
    proxy = loop.run_until_complete(context.__aenter__())
    try:
        yield proxy
    finally:
        loop.run_until_complete(context.__aexit__(None, None, None))
        loop.close()


async def start(
    hash_proxy: ProxyProcess, make_service: Any, slow: bool = False
) -> tuple[Service, FaultTransport]:
    await hash_proxy.switch_model("hash-v1")
    timeouts = {"query_timeout_seconds": SLOW_TIMEOUT, "batch_timeout_seconds": SLOW_TIMEOUT} if slow else {}
    config = fixture_config(hash_proxy.url, max_retries=MAX_RETRIES, **timeouts)
    faults = FaultTransport(httpx.AsyncHTTPTransport())
    service: Service = await make_service(config, transport=faults)
    return service, faults


def in_space(service: Service, model: str, dimensions: int = 384) -> bool:
    manager = service.app.manager
    return manager.all_ready() and all(
        s.space is not None and (s.space.model, s.space.dimensions) == (model, dimensions)
        for s in manager.statuses()
    )


async def settle(service: Service, model: str, dimensions: int = 384) -> None:
    """Every index READY in (model, dimensions), recorded as the built space."""
    manager = service.app.manager
    await wait_for(manager, lambda: in_space(service, model, dimensions))
    await asyncio.wait_for(service.app.watcher.settled.wait(), 60)
    assert manager.built_space is not None
    assert (manager.built_space.model, manager.built_space.dimensions) == (model, dimensions)


async def answered(service: Service, scored_in: str) -> search_pb2.SearchResponse:
    """A search that must be answered, every hit re-scored by the oracle in ``scored_in``."""
    query = next(QUERIES)
    response = await service.search.Search(
        search_pb2.SearchRequest(query=query, top_k=5, mode=DENSE), timeout=30
    )
    assert response.hits and not response.unavailable_indexes
    assert_scored_in(query, response, model=scored_in)
    return response


async def refused_search(service: Service) -> Failure:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await service.search.Search(
            search_pb2.SearchRequest(query=next(QUERIES), top_k=5, mode=DENSE), timeout=30
        )
    got = failure(caught.value)
    assert got.code == grpc.StatusCode.UNAVAILABLE, got
    assert got.error_info is not None and got.retry_info is not None, got
    return got


async def assert_still_serving(service: Service) -> None:
    """The process and its gRPC services answer, whatever the provider does."""
    health = health_pb2_grpc.HealthStub(service.channel)
    overall = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert overall.status == health_pb2.HealthCheckResponse.SERVING
    listed = await service.admin.ListIndexes(admin_pb2.ListIndexesRequest(), timeout=10)
    assert len(listed.indexes) == len(service.app.manager.slots)


@pytest.mark.parametrize("fault", matrix(FAULTS))
async def test_a_fault_alone_refuses_queries_and_leaves_the_indexes_serving(
    fault: Fault, hash_proxy: ProxyProcess, make_service: Any
) -> None:
    """Every request meets the fault: queries and the watcher's probes."""
    service, faults = await start(hash_proxy, make_service, fault.slow)
    manager = service.app.manager
    faults.every = fault.make(faults.inner)

    refusal = await refused_search(service)
    assert refusal.error_info is not None
    if fault.claims is None:
        assert refusal.error_info.reason == "EMBEDDING_PROVIDER_UNAVAILABLE"
        assert fault.says in refusal.message
        if fault.name == "http_429":  # the provider's Retry-After reaches the client
            assert refusal.retry_info is not None
            assert refusal.retry_info.retry_delay.ToTimedelta().total_seconds() == pytest.approx(0.05)
        # The probe fails too; a failing provider is not a new space, so nothing is parked.
        manager.wake("test: probe through the fault")
        attempts = MAX_RETRIES + 1
        await faults.until_faulted(
            lambda seen: sum(map(is_probe, seen)) > attempts
        )  # a tick failed, the next began
        assert manager.all_ready() and not any(s.last_error for s in manager.statuses())
        assert manager.built_space is not None and manager.built_space.model == "hash-v1"
    else:
        # Never scored: the query was embedded in another space than the indexes.
        assert refusal.error_info.reason == "EMBEDDING_SPACE_CHANGED"
        assert fault.says in refusal.message
        # Every answer claims the other space, so the server rebuilds in it, consistently.
        await settle(service, *fault.claims)
        response = await answered(service, scored_in="hash-v1")  # the vectors really are hash-v1's
        assert (response.query_space.model, response.query_space.dimensions) == fault.claims
    await assert_still_serving(service)

    faults.every = None
    manager.wake("test: fault cleared")
    await settle(service, "hash-v1")
    await answered(service, scored_in="hash-v1")


@pytest.mark.parametrize("fault", matrix(FAULTS))
async def test_a_fault_during_a_rebuild_parks_with_its_reason_until_it_clears(
    fault: Fault, hash_proxy: ProxyProcess, make_service: Any
) -> None:
    """The provider switches model; every build batch meets the fault, probes and queries do not."""
    service, faults = await start(hash_proxy, make_service, fault.slow)
    manager = service.app.manager
    first = next(iter(manager.slots))
    action = fault.make(faults.inner)
    faults.when = lambda request: action if is_build_batch(request) else None
    await hash_proxy.switch_model("hash-v2")
    manager.wake("test: model switched")

    await wait_for(
        manager,
        lambda: (
            not any(s.state is IndexState.READY for s in manager.statuses())
            and fault.says in manager.status(first).last_error
        ),
    )
    listed = (await service.admin.ListIndexes(admin_pb2.ListIndexesRequest())).indexes
    assert {ix.state for ix in listed} <= PARKED_OR_REBUILDING
    errors = [ix.last_error for ix in listed if ix.last_error]
    assert errors and all(fault.says in e for e in errors), errors
    spaces = await service.admin.GetEmbeddingSpace(admin_pb2.GetEmbeddingSpaceRequest())
    assert spaces.built_space.model == "hash-v1"  # never advanced past a failed rebuild
    refusal = await refused_search(service)
    assert refusal.error_info is not None and refusal.error_info.reason == "INDEX_NOT_READY"
    await assert_still_serving(service)

    faults.when = None  # the watcher retries on its own (backoff, or at once after a space move)
    await settle(service, "hash-v2")
    assert not any(s.last_error for s in manager.statuses())
    await answered(service, scored_in="hash-v2")


# 500 and 502 take the very path 503 takes; the matrix above shows each of them.
TRANSIENT = [f for f in FAULTS if f.transient and f.name not in {"http_500", "http_502"}]


@pytest.mark.parametrize("fault", matrix(TRANSIENT))
async def test_a_transient_fault_is_absorbed_by_retries(
    fault: Fault, hash_proxy: ProxyProcess, make_service: Any
) -> None:
    """Every request fails once and succeeds on its retry: no search and no rebuild notices."""
    service, faults = await start(hash_proxy, make_service, fault.slow)
    manager = service.app.manager
    faults.when = first_attempts(fault.make(faults.inner))

    await answered(service, scored_in="hash-v1")
    await hash_proxy.switch_model("hash-v2")
    manager.wake("test: model switched")
    await settle(service, "hash-v2")
    assert not any(s.last_error for s in manager.statuses())
    assert any(is_build_batch(r) for r in faults.faulted)  # the rebuild met the fault, and retried
    await answered(service, scored_in="hash-v2")
    await assert_still_serving(service)


# -- deadlines and cancellations reach the provider call -----------------------------------------


async def test_a_client_deadline_cancels_the_provider_call(
    hash_proxy: ProxyProcess, make_service: Any
) -> None:
    """The provider holds the query; the client's 0.3 s deadline passes long before the query's own
    timeout (10 s): the client gets DEADLINE_EXCEEDED and the server abandons the provider request."""
    service, faults = await start(hash_proxy, make_service)
    stall = Stall()
    faults.when = lambda request: stall if is_query(request) else None
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await service.search.Search(search_pb2.SearchRequest(query=next(QUERIES), mode=DENSE), timeout=0.3)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await asyncio.wait_for(stall.cancelled.wait(), 5)
    assert sum(map(is_query, faults.faulted)) == 1  # given up, not retried for a client that left
    await assert_still_serving(service)
    faults.when = None
    await answered(service, scored_in="hash-v1")


async def test_a_cancelled_search_cancels_the_provider_call(
    hash_proxy: ProxyProcess, make_service: Any
) -> None:
    service, faults = await start(hash_proxy, make_service)
    stall = Stall()
    faults.when = lambda request: stall if is_query(request) else None
    call = service.search.Search(search_pb2.SearchRequest(query=next(QUERIES), mode=DENSE))
    await asyncio.wait_for(stall.entered.wait(), 10)
    call.cancel()
    await asyncio.wait_for(stall.cancelled.wait(), 5)
    assert sum(map(is_query, faults.faulted)) == 1
    faults.when = None
    await answered(service, scored_in="hash-v1")
