"""Every ProviderError a client can read is a sentence: no exception repr like ``TimeoutError()``."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable

import httpx
import pytest

from semsearch.embeddings import EmbeddingProvider, ProviderError
from semsearch.embeddings.client import parse_response
from semsearch.embeddings.failures import reason
from semsearch.proxy.app import create_app
from tests.support.faults import (
    Action,
    FaultTransport,
    Stall,
    drip,
    raise_,
    refused,
    reset_mid_body,
    status,
    truncated,
)

# A repr: a class name followed by its arguments in parentheses (TimeoutError(), ReadError('')).
REPR = re.compile(r"\b[A-Z]\w*(Error|Exception|Timeout|Exit)\(")


def client(transport: httpx.AsyncBaseTransport, **kwargs: float) -> EmbeddingProvider:
    return EmbeddingProvider(
        "http://provider.test/v1",
        "hash-v1",
        transport=transport,
        max_retries=0,
        query_timeout=kwargs.get("timeout", 0.3),
        batch_timeout=kwargs.get("timeout", 0.3),
    )


FAULTS: dict[str, tuple[Callable[[httpx.AsyncBaseTransport], Action], str]] = {
    "no answer at all": (lambda inner: Stall(), "provider timed out after 0.3s: no complete answer in time"),
    "dripping answer": (lambda inner: drip(inner, size=4, gap=0.05), "provider timed out after 0.3s"),
    "read timeout": (lambda inner: raise_(httpx.ReadTimeout), "provider timed out after 0.3s"),
    "connect timeout": (lambda inner: raise_(httpx.ConnectTimeout), "accepted no connection in time"),
    "refused": (lambda inner: refused(), "provider unreachable at http://provider.test/v1"),
    "reset mid-body": (reset_mid_body, "Connection reset by peer"),
    "protocol error": (lambda inner: raise_(httpx.RemoteProtocolError), "provider connection failed"),
    "undecodable body": (
        lambda inner: status(
            200, {"content-encoding": "gzip", "content-type": "application/json"}, b"not gzip"
        ),
        "provider sent an unreadable answer",
    ),
    "truncated JSON": (truncated, "malformed embeddings response: the body is not valid JSON"),
    "HTTP 503": (lambda inner: status(503), "provider answered HTTP 503"),
}


@pytest.mark.parametrize("name", list(FAULTS))
@pytest.mark.parametrize("task", ["query", "document"])
async def test_a_provider_failure_reads_as_a_sentence(name: str, task: str) -> None:
    make, says = FAULTS[name]
    faults = FaultTransport(httpx.ASGITransport(app=create_app("hash-v1")))
    faults.every = make(faults.inner)
    provider = client(faults)
    with pytest.raises(ProviderError) as caught:
        if task == "query":
            await provider.embed_query("who attests")
        else:
            await provider.embed_documents(["a text", "another"])
    await provider.aclose()
    message = str(caught.value)
    assert says in message
    assert not REPR.search(message), message


async def test_a_query_timing_out_behind_build_batches_says_so() -> None:
    stall = Stall()
    faults = FaultTransport(httpx.ASGITransport(app=create_app("hash-v1")))
    faults.every = stall
    provider = client(faults, timeout=5.0)
    provider.query_timeout = 0.2
    build = asyncio.create_task(provider.embed_documents(["a text", "another"]))
    await stall.entered.wait()
    with pytest.raises(ProviderError) as caught:
        await provider.embed_query("who attests")
    build.cancel()
    await asyncio.gather(build, return_exceptions=True)
    await provider.aclose()
    assert str(caught.value) == (
        "provider timed out after 0.2s: no complete answer in time (1 build batch in flight)"
    )


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"data": []}, "malformed embeddings response: it has no 'model' field"),
        ({"model": "m", "data": [{"embedding": [1.0]}]}, "it has no 'index' field"),
        ({"model": "m", "data": [{"index": 0, "embedding": 7}]}, "a field has the wrong type"),
        ({"model": "m", "data": 3}, "a field has the wrong type"),
    ],
)
def test_a_malformed_answer_names_what_is_wrong(body: object, says: str) -> None:
    request = httpx.Request("POST", "http://x/v1/embeddings")
    with pytest.raises(ProviderError) as caught:
        parse_response(httpx.Response(200, content=json.dumps(body).encode(), request=request), expected=1)
    assert says in str(caught.value) and not REPR.search(str(caught.value))


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (TimeoutError(), "an unexpected error"),
        (httpx.ReadError(""), "the connection failed while reading the answer"),
        (httpx.ConnectError("[Errno 111] Connection refused"), "Connection refused"),
        (ConnectionResetError(), "the connection failed"),
        (httpx.ReadError("ReadError()"), "the connection failed while reading the answer"),
    ],
)
def test_an_exception_without_words_gets_a_phrase(error: BaseException, says: str) -> None:
    assert reason(error) == says
