"""Refusals from a real server arrive as typed exceptions with their google.rpc details."""

from __future__ import annotations

from typing import Any

import grpc
import httpx
import pytest

from semsearch.proxy.launcher import ProxyProcess
from semsearch_client import (
    AsyncSemsearchClient,
    EmbeddingSpaceChangedError,
    IndexNotReadyError,
    IndexUnavailableError,
    InvalidArgumentError,
    NotFoundError,
    ProviderUnavailableError,
    RefusalRetry,
    SemsearchError,
    UnavailableError,
    UnreachableError,
)
from semsearch_client.backoff import Backoff
from tests.support.faults import FaultTransport, status
from tests.support.server import Service, fixture_config

# Without the channel's own retries, the first refusal reaches the test as the server sent it.
NO_CHANNEL_RETRIES = [("grpc.enable_retries", 0)]


@pytest.mark.parametrize(
    ("kwargs", "reason", "field"),
    [
        ({"query": ""}, "INVALID_QUERY", "query"),
        ({"query": "ok", "top_k": 101}, "INVALID_TOP_K", "top_k"),
        ({"query": "ok", "min_score": 2.0}, "INVALID_MIN_SCORE", "min_score"),
        ({"query": "ok", "indexes": [""]}, "INVALID_INDEXES", "indexes"),
        ({"query": "ok", "filter": {"": "x"}}, "INVALID_FILTER", "filter"),
    ],
)
async def test_bad_input_is_invalid_argument_with_its_reason_and_field(
    client: AsyncSemsearchClient, kwargs: dict[str, Any], reason: str, field: str
) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        await client.search(**kwargs)
    error = caught.value
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert (error.reason, error.domain) == (reason, "semsearch.v1")
    assert [v.field for v in error.field_violations] == [field]
    assert error.metadata["field"] == field
    assert error.retry_delay is None and not error.retryable
    assert str(error).startswith(f"INVALID_ARGUMENT [{reason}]: ")


async def test_an_empty_index_name_is_invalid(client: AsyncSemsearchClient) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        await client.get_index("")
    assert caught.value.reason == "INVALID_INDEX_NAME"


async def test_an_unknown_index_is_not_found(client: AsyncSemsearchClient) -> None:
    for call in (client.search("validator", indexes=["eips", "nope"]), client.get_index("nope")):
        with pytest.raises(NotFoundError) as caught:
            await call
        assert (caught.value.code, caught.value.reason) == (grpc.StatusCode.NOT_FOUND, "INDEX_NOT_FOUND")
        assert caught.value.metadata["index"] == "nope"


async def test_a_target_without_a_server_is_unreachable(dead_target: str) -> None:
    async with AsyncSemsearchClient(dead_target, timeout=10) as client:
        with pytest.raises(UnreachableError) as caught:
            await client.list_indexes()
    error = caught.value
    assert isinstance(error, UnavailableError) and error.retryable
    assert (error.code, error.reason, error.retry_delay) == (grpc.StatusCode.UNAVAILABLE, "", None)


async def test_an_index_that_cannot_build_is_not_ready(hash_proxy: ProxyProcess, make_service: Any) -> None:
    provider_down = FaultTransport(httpx.AsyncHTTPTransport(), every=status(503))
    config = fixture_config(hash_proxy.url)
    service: Service = await make_service(config, transport=provider_down, ready=False)
    async with AsyncSemsearchClient(f"127.0.0.1:{service.app.port}", options=NO_CHANNEL_RETRIES) as client:
        with pytest.raises(IndexNotReadyError) as caught:
            await client.search("validator", indexes=["eips"])
    error = caught.value
    assert isinstance(error, IndexUnavailableError) and error.retryable
    assert (error.code, error.metadata["index"], error.metadata["state"]) == (
        grpc.StatusCode.UNAVAILABLE,
        "eips",
        "PARKED",
    )
    assert error.retry_delay == 1.0


async def test_a_provider_that_goes_down_is_provider_unavailable(
    hash_proxy: ProxyProcess, make_service: Any
) -> None:
    faults = FaultTransport(httpx.AsyncHTTPTransport())
    service: Service = await make_service(fixture_config(hash_proxy.url), transport=faults)
    faults.every = status(503)
    async with AsyncSemsearchClient(f"127.0.0.1:{service.app.port}", options=NO_CHANNEL_RETRIES) as client:
        with pytest.raises(ProviderUnavailableError) as caught:
            await client.search("a query nobody embedded before", indexes=["eips"])
    assert caught.value.reason == "EMBEDDING_PROVIDER_UNAVAILABLE"
    assert caught.value.retry_delay is not None and caught.value.retry_delay > 0
    assert not isinstance(caught.value, (IndexUnavailableError, UnreachableError))


async def test_a_model_switch_is_refused_as_embedding_space_changed(
    hash_proxy: ProxyProcess, service: Service, target: str
) -> None:
    await hash_proxy.switch_model("hash-v2")
    async with AsyncSemsearchClient(target, options=NO_CHANNEL_RETRIES) as client:
        with pytest.raises(EmbeddingSpaceChangedError) as caught:
            await client.search("validator", indexes=["eips"])
    error = caught.value
    assert isinstance(error, IndexUnavailableError)
    assert (error.reason, error.retry_delay) == ("EMBEDDING_SPACE_CHANGED", 2.0)
    assert "hash-v2" in error.message


async def test_the_refusal_retry_waits_out_a_model_switch(
    hash_proxy: ProxyProcess, service: Service, target: str
) -> None:
    refusals: list[tuple[SemsearchError, float]] = []
    retry = RefusalRetry(
        max_attempts=20,
        deadline=60,
        backoff=Backoff(initial=0.05, maximum=0.5),
        on_retry=lambda error, delay: refusals.append((error, delay)),
    )
    await hash_proxy.switch_model("hash-v2")
    async with AsyncSemsearchClient(target, retry=retry, options=NO_CHANNEL_RETRIES) as client:
        response = await client.search("validator", indexes=["eips"])
    assert response.query_space.model == "hash-v2"
    # The first attempt is always refused: the poll interval is long, only the query sees the switch.
    assert isinstance(refusals[0][0], EmbeddingSpaceChangedError)
    for error, delay in refusals:
        assert isinstance(error, IndexUnavailableError)
        assert error.retry_delay is not None and delay >= error.retry_delay  # the server's pace


async def test_the_refusal_retry_gives_up_after_its_attempts(
    hash_proxy: ProxyProcess, make_service: Any
) -> None:
    provider_down = FaultTransport(httpx.AsyncHTTPTransport(), every=status(503))
    config = fixture_config(hash_proxy.url)
    service: Service = await make_service(config, transport=provider_down, ready=False)
    waits: list[float] = []
    retry = RefusalRetry(max_attempts=2, backoff=Backoff(initial=0.01), on_retry=lambda _, d: waits.append(d))
    async with AsyncSemsearchClient(f"127.0.0.1:{service.app.port}", retry=retry) as client:
        with pytest.raises(IndexNotReadyError):
            await client.search("validator", indexes=["eips"])
    assert len(waits) == 1 and waits[0] >= 1.0
