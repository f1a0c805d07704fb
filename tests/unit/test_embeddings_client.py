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
from tests.support.faults import FaultTransport, raise_, status


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
