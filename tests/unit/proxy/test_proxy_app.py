"""The proxy's HTTP API, driven in-process through httpx's ASGI transport."""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import numpy as np
import pytest
from starlette.applications import Starlette

from semsearch.proxy import models
from semsearch.proxy.app import MAX_INPUT_CHARS, MAX_INPUTS, create_app
from semsearch.proxy.hashing import hash_embed
from semsearch.proxy.models import InputType

TEXTS = ["how do I restart a stuck validator", "Fee market for blob transactions", ""]


def client_for(app: Starlette, host: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(host, 123))
    return httpx.AsyncClient(transport=transport, base_url="http://proxy")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(create_app("hash-v1")) as c:
        yield c


def decode(item: dict[str, Any]) -> np.ndarray:
    embedding = item["embedding"]
    if isinstance(embedding, str):
        return np.frombuffer(base64.b64decode(embedding), dtype="<f4")
    return np.asarray(embedding, dtype=np.float32)


def vectors(body: dict[str, Any]) -> np.ndarray:
    assert [item["index"] for item in body["data"]] == list(range(len(body["data"])))
    return np.stack([decode(item) for item in body["data"]])


async def embed(client: httpx.AsyncClient, **payload: Any) -> dict[str, Any]:
    response = await client.post("/v1/embeddings", json={"input": TEXTS, **payload})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_response_shape_and_oracle_vectors(client: httpx.AsyncClient) -> None:
    body = await embed(client)
    assert body["object"] == "list"
    assert body["model"] == "hash-v1"
    assert all(item["object"] == "embedding" for item in body["data"])
    assert np.array_equal(vectors(body), hash_embed(TEXTS, "hash-v1"))
    words = 7 + 5 + 0
    assert body["usage"] == {"prompt_tokens": words, "total_tokens": words}


async def test_float_and_base64_decode_to_the_same_vectors(client: httpx.AsyncClient) -> None:
    as_float = await embed(client, encoding_format="float")
    as_base64 = await embed(client, encoding_format="base64")
    assert all(isinstance(item["embedding"], list) for item in as_float["data"])
    assert all(isinstance(item["embedding"], str) for item in as_base64["data"])
    assert np.array_equal(vectors(as_float), vectors(as_base64))
    assert vectors(as_base64).shape == (len(TEXTS), 384)


async def test_single_string_input(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/embeddings", json={"input": "just one text"})
    body = response.json()
    assert len(body["data"]) == 1
    assert np.array_equal(vectors(body), hash_embed(["just one text"], "hash-v1"))


async def test_requested_model_is_ignored_and_the_served_one_echoed(client: httpx.AsyncClient) -> None:
    body = await embed(client, model="text-embedding-3-small", dimensions=1536)
    assert body["model"] == "hash-v1"
    assert vectors(body).shape[1] == 384


async def test_input_types_are_identical_for_hash_models(client: httpx.AsyncClient) -> None:
    default = vectors(await embed(client))
    for input_type in ("query", "document", "passage", None):
        assert np.array_equal(vectors(await embed(client, input_type=input_type)), default)


async def test_limits_are_inclusive(client: httpx.AsyncClient) -> None:
    most = await client.post("/v1/embeddings", json={"input": ["w"] * MAX_INPUTS})
    assert most.status_code == 200
    assert len(most.json()["data"]) == MAX_INPUTS
    longest = await client.post("/v1/embeddings", json={"input": ["w" * MAX_INPUT_CHARS]})
    assert longest.status_code == 200


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "input"),
        ({"input": None}, "input"),
        ({"input": []}, "input"),
        ({"input": 42}, "input"),
        ({"input": [1, 2, 3]}, "input[0]"),
        ({"input": ["ok", None]}, "input[1]"),
        ({"input": [["nested"]]}, "input[0]"),
        ({"input": ["w"] * (MAX_INPUTS + 1)}, "input"),
        ({"input": ["ok", "w" * (MAX_INPUT_CHARS + 1)]}, "input[1]"),
        ({"input": "ok", "encoding_format": "int8"}, "encoding_format"),
        ({"input": "ok", "encoding_format": ""}, "encoding_format"),
        ({"input": "ok", "input_type": "passages"}, "input_type"),
        ({"input": "ok", "input_type": 1}, "input_type"),
        ({"input": "ok", "model": 5}, "model"),
    ],
)
async def test_invalid_requests_get_400_in_openai_shape(
    client: httpx.AsyncClient, body: dict[str, Any], param: str
) -> None:
    response = await client.post("/v1/embeddings", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert isinstance(error["message"], str) and error["message"]


@pytest.mark.parametrize("raw", [b"{", b"", b"not json", b"[1, 2]", b'"input"', b"\xff\xfe"])
async def test_body_that_is_not_a_json_object_gets_400(client: httpx.AsyncClient, raw: bytes) -> None:
    response = await client.post("/v1/embeddings", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "invalid_json"


async def test_unknown_route_and_method_use_the_error_shape(client: httpx.AsyncClient) -> None:
    missing = await client.get("/v1/nothing")
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "invalid_request_error"
    wrong_method = await client.get("/v1/embeddings")
    assert wrong_method.status_code == 405
    assert "POST" in wrong_method.headers["allow"]


async def test_models_and_health(client: httpx.AsyncClient) -> None:
    listed = (await client.get("/v1/models")).json()
    assert listed["object"] == "list"
    assert [(m["id"], m["object"], m["owned_by"]) for m in listed["data"]] == [
        ("hash-v1", "model", "semsearch")
    ]
    assert (await client.get("/health")).json() == {
        "status": "ok",
        "model": "hash-v1",
        "dimensions": 384,
        "embedding_requests": 0,
        "embedded_inputs": 0,
    }
    await client.post("/v1/embeddings", json={"input": ["a", "b", "c"]})
    counted = (await client.get("/health")).json()
    assert (counted["embedding_requests"], counted["embedded_inputs"]) == (1, 3)


async def test_admin_switch_changes_model_and_vectors(client: httpx.AsyncClient) -> None:
    assert (await client.get("/admin/model")).json() == {"model": "hash-v1", "dimensions": 384}
    before = vectors(await embed(client))

    switched = await client.post("/admin/model", json={"model": "hash-v2"})
    assert switched.status_code == 200
    assert switched.json() == {"model": "hash-v2", "dimensions": 384, "previous": "hash-v1"}

    body = await embed(client)
    assert body["model"] == "hash-v2"
    after = vectors(body)
    assert np.array_equal(after, hash_embed(TEXTS, "hash-v2"))
    assert not np.array_equal(after, before)
    assert (await client.get("/health")).json()["model"] == "hash-v2"
    assert (await client.get("/v1/models")).json()["data"][0]["id"] == "hash-v2"
    assert (await client.get("/admin/model")).json()["model"] == "hash-v2"


@pytest.mark.parametrize(
    ("payload", "param"),
    [({"model": "no-such-model"}, "model"), ({"model": ""}, "model"), ({}, "model"), ({"model": 3}, "model")],
)
async def test_admin_switch_rejects_bad_models(
    client: httpx.AsyncClient, payload: dict[str, Any], param: str
) -> None:
    response = await client.post("/admin/model", json=payload)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert (await client.get("/health")).json()["model"] == "hash-v1"


async def test_admin_unknown_model_lists_known_ones(client: httpx.AsyncClient) -> None:
    response = await client.post("/admin/model", json={"model": "no-such-model"})
    assert "e5-small" in response.json()["error"]["message"]
    assert response.json()["error"]["code"] == "model_not_found"


async def test_admin_rejects_invalid_json(client: httpx.AsyncClient) -> None:
    response = await client.post("/admin/model", content=b"{model")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


@pytest.mark.parametrize("host", ["10.0.0.5", "192.168.1.20", "2001:db8::1", "testclient", ""])
async def test_admin_is_loopback_only(host: str) -> None:
    app = create_app("hash-v1")
    async with client_for(app, host=host) as remote:
        assert (await remote.get("/admin/model")).status_code == 403
        refused = await remote.post("/admin/model", json={"model": "hash-v2"})
        assert refused.status_code == 403
        assert refused.json()["error"]["type"] == "permission_error"
        # the rest of the API is for everyone
        assert (await remote.get("/health")).json()["model"] == "hash-v1"


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "::ffff:127.0.0.1", "127.0.0.2"])
async def test_admin_accepts_loopback_clients(host: str) -> None:
    async with client_for(create_app("hash-v1"), host=host) as local:
        assert (await local.post("/admin/model", json={"model": "hash-v2"})).status_code == 200
        assert (await local.get("/health")).json()["model"] == "hash-v2"


class GatedModel:
    """A hash model whose ``embed`` waits for the test to open a gate, to observe a request mid-flight."""

    entered = threading.Event()
    gate = threading.Event()

    def __init__(self, name: str) -> None:
        self.name = name
        self.dimensions = 384
        self.gate_was_open = False

    def embed(self, texts: Sequence[str], input_type: InputType) -> np.ndarray:
        GatedModel.entered.set()
        # If this ran on the event loop, the test could not open the gate: the wait would time out.
        self.gate_was_open = GatedModel.gate.wait(timeout=5)
        return hash_embed(texts, self.name)


@pytest.fixture
def gated(monkeypatch: pytest.MonkeyPatch) -> type[GatedModel]:
    GatedModel.entered.clear()
    GatedModel.gate.clear()
    monkeypatch.setitem(models._FAMILIES, "gated-", GatedModel)
    return GatedModel


async def test_compute_runs_off_the_event_loop_and_one_model_answers_each_request(
    gated: type[GatedModel],
) -> None:
    app = create_app("gated-a")
    served = app.state.proxy.model
    async with client_for(app) as client:
        pending = asyncio.create_task(client.post("/v1/embeddings", json={"input": TEXTS}))
        assert await asyncio.to_thread(gated.entered.wait, 5)

        # while the batch is being computed: health answers, and the model can be switched
        assert (await client.get("/health")).json()["model"] == "gated-a"
        switched = await client.post("/admin/model", json={"model": "hash-v2"})
        assert switched.json()["model"] == "hash-v2"
        gated.gate.set()

        body = (await pending).json()
    assert served.gate_was_open
    # the request in flight during the switch is answered entirely by the model it started with
    assert body["model"] == "gated-a"
    assert np.array_equal(vectors(body), hash_embed(TEXTS, "gated-a"))


async def test_serve_as_swaps_the_model_behind_an_unchanged_name() -> None:
    app = create_app("hash-v1")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://proxy") as client:
        before = (await client.post("/v1/embeddings", json={"input": ["blob fees"]})).json()
        switched = await client.post("/admin/model", json={"model": "hash-v2", "serve_as": "hash-v1"})
        assert switched.status_code == 200
        after = (await client.post("/v1/embeddings", json={"input": ["blob fees"]})).json()
        bad = await client.post("/admin/model", json={"model": "hash-v2", "serve_as": ""})
    assert before["model"] == after["model"] == "hash-v1"
    expected = hash_embed(["blob fees"], "hash-v2")[0]
    assert after["data"][0]["embedding"] == pytest.approx(expected.tolist(), abs=1e-6)
    assert before["data"][0]["embedding"] != after["data"][0]["embedding"]
    assert bad.status_code == 400
