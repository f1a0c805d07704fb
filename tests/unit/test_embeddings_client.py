"""The provider client against the real bundled provider app, with faults injected between them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import numpy as np
import pytest

from semsearch.embeddings import (
    EmbeddingProvider,
    EmbeddingSpace,
    ProviderResponseError,
    ProviderUnavailable,
    probe_space,
)
from semsearch.embeddings.client import api_base, parse_response
from semsearch.proxy.app import create_app
from semsearch.proxy.hashing import hash_embed
from tests.support.faults import (
    FaultTransport,
    Stall,
    drip,
    first_attempts,
    raise_,
    refused,
    reset_mid_body,
    status,
    truncated,
)


def provider_app(model: str = "hash-v1") -> httpx.ASGITransport:
    return httpx.ASGITransport(app=create_app(model))


@pytest.fixture
async def faults() -> AsyncIterator[FaultTransport]:
    yield FaultTransport(provider_app())


def client(transport: httpx.AsyncBaseTransport, **kwargs: object) -> EmbeddingProvider:
    options: dict[str, object] = {"backoff_base": 0.001, "backoff_cap": 0.002, **kwargs}
    return EmbeddingProvider("http://provider.test/v1", "hash-v1", transport=transport, **options)  # type: ignore[arg-type]


def test_api_base_accepts_both_forms() -> None:
    assert api_base("http://h:1") == "http://h:1/v1"
    assert api_base("http://h:1/v1/") == "http://h:1/v1"


async def test_vectors_are_the_providers_normalised_and_in_order(faults: FaultTransport) -> None:
    texts = [f"document number {i} about validators" for i in range(10)]
    provider = client(faults, batch_size=3)
    result = await provider.embed_documents(texts)
    await provider.aclose()
    assert (result.model, result.dimensions) == ("hash-v1", 384)
    np.testing.assert_allclose(result.vectors, hash_embed(texts, "hash-v1"), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(result.vectors, axis=1), 1.0, atol=1e-5)
    assert faults.count == 4  # batches of 3, 3, 3, 1


async def test_requests_carry_model_input_type_and_bearer_token() -> None:
    seen: list[httpx.Request] = []
    inner = provider_app()

    class Recorder(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return await inner.handle_async_request(request)

    provider = client(Recorder(), api_key="s3cret")
    await provider.embed_query("who attests")
    await provider.aclose()
    body = json.loads(seen[0].content)
    assert body["model"] == "hash-v1"
    assert body["input_type"] == "query"
    assert seen[0].headers["authorization"] == "Bearer s3cret"


async def test_transient_failures_are_retried(faults: FaultTransport) -> None:
    faults.rules = {1: status(503), 2: raise_(httpx.ConnectError), 3: status(429, {"Retry-After": "0"})}
    provider = client(faults, max_retries=3)
    result = await provider.embed_documents(["a text"])
    await provider.aclose()
    assert faults.count == 4
    assert result.vectors.shape == (1, 384)


async def test_retries_are_bounded_and_end_unavailable(faults: FaultTransport) -> None:
    faults.every = status(502)
    provider = client(faults, max_retries=2)
    with pytest.raises(ProviderUnavailable, match="HTTP 502"):
        await provider.embed_documents(["a text"])
    await provider.aclose()
    assert faults.count == 3


async def test_a_query_is_retried_at_most_once(faults: FaultTransport) -> None:
    faults.every = raise_(httpx.ReadTimeout)
    provider = client(faults, max_retries=4)
    with pytest.raises(ProviderUnavailable, match="timed out"):
        await provider.embed_query("q")
    await provider.aclose()
    assert faults.count == 2


async def test_client_errors_are_not_retried(faults: FaultTransport) -> None:
    faults.every = status(401)
    provider = client(faults)
    with pytest.raises(ProviderResponseError, match="HTTP 401"):
        await provider.embed_query("q")
    await provider.aclose()
    assert faults.count == 1


def _response(body: object) -> httpx.Response:
    # json.dumps writes NaN as a bare token, as a misbehaving provider would.
    content = json.dumps(body).encode()
    return httpx.Response(200, content=content, request=httpx.Request("POST", "http://x/v1/embeddings"))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"data": []}, "malformed"),
        ({"model": "m", "data": [{"index": 0, "embedding": [1.0, 0.0]}]}, "asked for 2"),
        (
            {"model": "m", "data": [{"index": 0, "embedding": [1.0]}, {"index": 1, "embedding": [1.0, 0.0]}]},
            "inconsistent",
        ),
        (
            {
                "model": "m",
                "data": [
                    {"index": 0, "embedding": [float("nan"), 1.0]},
                    {"index": 1, "embedding": [1.0, 0.0]},
                ],
            },
            "NaN",
        ),
        (
            {
                "model": "m",
                "data": [{"index": 0, "embedding": [0.0, 0.0]}, {"index": 1, "embedding": [1.0, 0.0]}],
            },
            "zero vector",
        ),
        (
            {"model": "", "data": [{"index": 0, "embedding": [1.0]}, {"index": 1, "embedding": [1.0]}]},
            "model",
        ),
        (
            {"model": "m", "data": [{"index": 0, "embedding": "%%%"}, {"index": 1, "embedding": [1.0]}]},
            "malformed",
        ),
    ],
)
def test_bad_responses_are_refused(body: object, message: str) -> None:
    with pytest.raises(ProviderResponseError, match=message):
        parse_response(_response(body), expected=2)


def test_base64_vectors_and_out_of_order_indexes_are_accepted() -> None:
    import base64

    raw = base64.b64encode(np.asarray([3.0, 4.0], dtype="<f4").tobytes()).decode()
    result = parse_response(
        _response(
            {"model": "m", "data": [{"index": 1, "embedding": [0.0, 2.0]}, {"index": 0, "embedding": raw}]}
        ),
        2,
    )
    np.testing.assert_allclose(result.vectors, [[0.6, 0.8], [0.0, 1.0]], atol=1e-6)


async def test_probe_tells_spaces_apart_even_under_the_same_name() -> None:
    one = client(provider_app("hash-v1"))
    two = client(provider_app("hash-v2"))
    space_one, space_one_again, space_two = (
        await probe_space(one),
        await probe_space(one),
        await probe_space(two),
    )
    await one.aclose()
    await two.aclose()
    assert space_one.same_as(space_one_again)
    assert not space_one.same_as(space_two)
    renamed = EmbeddingSpace("hash-v1", 384, space_two.fingerprint)  # same name, other model behind it
    assert not space_one.same_as(renamed)


# -- every fault a provider can produce ends in a ProviderError, never another exception ----------


async def test_a_refused_connection_is_retried_then_unavailable(faults: FaultTransport) -> None:
    faults.every = refused()
    provider = client(faults, max_retries=1)
    with pytest.raises(ProviderUnavailable, match="unreachable"):
        await provider.embed_query("q")
    await provider.aclose()
    assert faults.count == 2


async def test_a_reset_mid_body_is_retried_and_recovers(faults: FaultTransport) -> None:
    faults.when = first_attempts(reset_mid_body(faults.inner))
    provider = client(faults, max_retries=1)
    result = await provider.embed_query("who attests")
    await provider.aclose()
    assert faults.count == 2 and len(faults.faulted) == 1
    np.testing.assert_allclose(result.vectors[0], hash_embed(["who attests"], "hash-v1")[0], atol=1e-6)


async def test_a_reset_mid_body_that_persists_names_the_reset(faults: FaultTransport) -> None:
    faults.every = reset_mid_body(faults.inner)
    provider = client(faults, max_retries=1)
    with pytest.raises(ProviderUnavailable, match="Connection reset"):
        await provider.embed_documents(["a text"])
    await provider.aclose()


async def test_a_dripping_answer_is_cut_off_by_the_attempt_deadline(faults: FaultTransport) -> None:
    """Each read gets its bytes in time, so only a deadline on the whole answer can end it."""
    faults.every = drip(faults.inner, size=4, gap=0.02)
    provider = client(faults, max_retries=0, query_timeout=0.3)
    with pytest.raises(ProviderUnavailable, match=r"timed out after 0\.3s"):
        await provider.embed_query("q")
    await provider.aclose()


async def test_a_provider_that_never_answers_times_out_and_is_cancelled(faults: FaultTransport) -> None:
    stall = Stall()
    faults.every = stall
    provider = client(faults, max_retries=0, batch_timeout=0.2)
    with pytest.raises(ProviderUnavailable, match="timed out"):
        await provider.embed_documents(["a text"])
    await provider.aclose()
    assert stall.cancelled.is_set()  # the held request was abandoned, not left running


async def test_a_retry_after_longer_than_an_attempt_is_not_waited_for(faults: FaultTransport) -> None:
    """The caller learns the provider's Retry-After at once instead of waiting it out."""
    faults.every = status(429, {"Retry-After": "20"})
    provider = client(faults, max_retries=4, query_timeout=1.0)
    with pytest.raises(ProviderUnavailable, match="HTTP 429") as caught:
        await provider.embed_query("q")
    await provider.aclose()
    assert faults.count == 1
    assert caught.value.retry_after == 20.0


async def test_a_short_retry_after_is_honoured_and_retried(faults: FaultTransport) -> None:
    faults.when = first_attempts(status(429, {"Retry-After": "0.01"}))
    provider = client(faults, max_retries=1)
    result = await provider.embed_query("q")
    await provider.aclose()
    assert faults.count == 2 and result.vectors.shape == (1, 384)


async def test_an_undecodable_body_is_a_response_error(faults: FaultTransport) -> None:
    faults.every = status(200, {"content-encoding": "gzip", "content-type": "application/json"}, b"not gzip")
    provider = client(faults)
    with pytest.raises(ProviderResponseError, match="unreadable"):
        await provider.embed_query("q")
    await provider.aclose()
    assert faults.count == 1


async def test_a_truncated_answer_is_malformed(faults: FaultTransport) -> None:
    faults.every = truncated(faults.inner)
    provider = client(faults)
    with pytest.raises(ProviderResponseError, match="malformed"):
        await provider.embed_documents(["a text", "another"])
    await provider.aclose()


def _two(first: object, second: object = (1.0, 0.0)) -> dict[str, object]:
    return {
        "model": "m",
        "data": [{"index": 0, "embedding": first}, {"index": 1, "embedding": list(second)}],  # type: ignore[call-overload]
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_two([float("inf"), 1.0]), "NaN or infinite"),
        (_two([-float("inf"), 1.0]), "NaN or infinite"),
        (_two([1e200, 1e200]), "too large"),  # finite, but its squared norm is not
        (_two(["0.5", 1.0]), "lists of numbers"),
        (_two([None, 1.0]), "lists of numbers"),
        (_two([[1.0, 0.0], [0.0, 1.0]], ([1.0, 0.0], [0.0, 1.0])), "lists of numbers"),
        (_two([10**400, 1.0]), "lists of numbers"),
        ({"model": "m", "data": {"index": 0}}, "malformed"),
        (
            {"model": "m", "data": [{"index": "0", "embedding": [1.0]}, {"index": 1, "embedding": [1.0]}]},
            "malformed",
        ),
        (
            {"model": ["m"], "data": [{"index": 0, "embedding": [1.0]}, {"index": 1, "embedding": [1.0]}]},
            "model",
        ),
        ([1, 2], "malformed"),
    ],
)
def test_hostile_vectors_are_refused(body: object, message: str) -> None:
    with pytest.raises(ProviderResponseError, match=message):
        parse_response(_response(body), expected=2)


def test_deeply_nested_json_is_malformed_not_a_crash() -> None:
    content = b"[" * 100_000 + b"]" * 100_000
    response = httpx.Response(200, content=content, request=httpx.Request("POST", "http://x/v1/embeddings"))
    with pytest.raises(ProviderResponseError, match="malformed"):
        parse_response(response, expected=1)


def test_large_but_finite_values_are_normalised_exactly() -> None:
    """float32 would overflow squaring these; the direction is still well defined."""
    result = parse_response(_response(_two([3e30, 4e30], (0.0, 2.0))), 2)
    np.testing.assert_allclose(result.vectors, [[0.6, 0.8], [0.0, 1.0]], atol=1e-6)
