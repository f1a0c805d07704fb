"""The proxy serving several models side by side: each request's ``model`` chooses the one that answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import numpy as np
import pytest

from semsearch.proxy.app import create_app
from semsearch.proxy.hashing import hash_embed
from semsearch.proxy.launcher import start_proxy

TEXTS = ["restart a stuck validator", "blob fees"]


def client_for(models: list[str]) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app("unused", models), client=("127.0.0.1", 123))
    return httpx.AsyncClient(transport=transport, base_url="http://proxy")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(["hash-v1", "hash-v2"]) as c:
        yield c


def vectors(body: dict[str, Any]) -> np.ndarray:
    return np.asarray([item["embedding"] for item in body["data"]], dtype=np.float32)


async def embed(client: httpx.AsyncClient, **payload: Any) -> httpx.Response:
    return await client.post("/v1/embeddings", json={"input": TEXTS, **payload})


async def test_each_request_is_answered_by_the_model_it_names(client: httpx.AsyncClient) -> None:
    for name in ("hash-v1", "hash-v2", "hash-v1"):
        body = (await embed(client, model=name)).json()
        assert body["model"] == name
        assert np.array_equal(vectors(body), hash_embed(TEXTS, name))


async def test_models_lists_every_served_model(client: httpx.AsyncClient) -> None:
    listed = (await client.get("/v1/models")).json()
    assert [m["id"] for m in listed["data"]] == ["hash-v1", "hash-v2"]
    health = (await client.get("/health")).json()
    assert health["models"] == [
        {"model": "hash-v1", "dimensions": 384},
        {"model": "hash-v2", "dimensions": 384},
    ]
    assert (await client.get("/admin/model")).json() == {"models": health["models"]}


async def test_an_unknown_model_is_404_in_openai_shape(client: httpx.AsyncClient) -> None:
    response = await embed(client, model="hash-v3")
    assert response.status_code == 404
    error = response.json()["error"]
    assert (error["type"], error["param"], error["code"]) == (
        "invalid_request_error",
        "model",
        "model_not_found",
    )
    assert "hash-v1" in error["message"] and "hash-v2" in error["message"]


@pytest.mark.parametrize("payload", [{}, {"model": None}, {"model": ""}])
async def test_a_request_without_a_model_is_400(client: httpx.AsyncClient, payload: dict[str, Any]) -> None:
    response = await embed(client, **payload)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "missing_model"


async def test_a_switch_replaces_only_the_model_behind_its_name(client: httpx.AsyncClient) -> None:
    switched = await client.post("/admin/model", json={"model": "hash-v3", "serve_as": "hash-v1"})
    assert switched.json() == {"model": "hash-v1", "dimensions": 384, "previous": "hash-v1"}
    behind_v1 = (await embed(client, model="hash-v1")).json()
    assert behind_v1["model"] == "hash-v1"  # the same name, another model: only a fingerprint tells
    assert np.array_equal(vectors(behind_v1), hash_embed(TEXTS, "hash-v3"))
    assert np.array_equal(
        vectors((await embed(client, model="hash-v2")).json()), hash_embed(TEXTS, "hash-v2")
    )


async def test_a_switch_to_a_new_name_adds_it(client: httpx.AsyncClient) -> None:
    added = await client.post("/admin/model", json={"model": "hash-v3"})
    assert added.json() == {"model": "hash-v3", "dimensions": 384, "previous": None}
    assert [m["id"] for m in (await client.get("/v1/models")).json()["data"]] == [
        "hash-v1",
        "hash-v2",
        "hash-v3",
    ]
    assert (await embed(client, model="hash-v3")).json()["model"] == "hash-v3"


def test_an_unknown_model_among_several_fails_at_start() -> None:
    with pytest.raises(ValueError, match="no-such-model"):
        create_app("unused", ["hash-v1", "no-such-model"])


@pytest.mark.slow
async def test_the_real_process_serves_several_models() -> None:
    async with (
        start_proxy(models=["hash-v1", "hash-v2"]) as proxy,
        httpx.AsyncClient(base_url=proxy.url) as http,
    ):
        assert proxy.models == ["hash-v1", "hash-v2"]
        for name in ("hash-v2", "hash-v1"):
            body = (await http.post("/embeddings", json={"input": TEXTS, "model": name})).json()
            assert body["model"] == name
            assert np.array_equal(vectors(body), hash_embed(TEXTS, name))
        await proxy.switch_model("hash-v3")
        assert proxy.models == ["hash-v1", "hash-v2", "hash-v3"]
        assert (await http.post("/embeddings", json={"input": TEXTS})).status_code == 400
