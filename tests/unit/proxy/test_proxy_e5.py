"""The real e5-small model behind the proxy API: semantic ranking, unit vectors, E5 prefixes."""

from __future__ import annotations

import base64

import httpx
import numpy as np
import pytest

from semsearch.proxy.app import create_app

pytestmark = pytest.mark.slow

QUERY = "how do I restart a stuck validator"
RELEVANT = "Restarting the validator client when it hangs"
IRRELEVANT = "Fee market for blob transactions"


async def embed(client: httpx.AsyncClient, texts: list[str], input_type: str) -> np.ndarray:
    response = await client.post(
        "/v1/embeddings", json={"input": texts, "input_type": input_type, "encoding_format": "base64"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "e5-small"
    return np.stack([np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4") for d in body["data"]])


async def test_e5_small_through_the_proxy() -> None:
    app = create_app("e5-small")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as client:
        assert (await client.get("/health")).json() == {
            "status": "ok",
            "model": "e5-small",
            "dimensions": 384,
            "embedding_requests": 0,
            "embedded_inputs": 0,
        }
        query = (await embed(client, [QUERY], "query"))[0]
        relevant, irrelevant = await embed(client, [RELEVANT, IRRELEVANT], "document")

        for vector in (query, relevant, irrelevant):
            assert vector.shape == (384,)
            assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-4)
        assert float(query @ relevant) > float(query @ irrelevant) + 0.05

        # E5 prefixes: "query: " and "passage: " embed the same text differently; "passage" = "document"
        as_document = (await embed(client, [QUERY], "document"))[0]
        as_passage = (await embed(client, [QUERY], "passage"))[0]
        assert not np.allclose(query, as_document, atol=1e-3)
        assert np.array_equal(as_document, as_passage)

        # a switch away and back reuses the one loaded engine and gives the same vectors
        assert (await client.post("/admin/model", json={"model": "hash-v1"})).status_code == 200
        assert (await client.post("/admin/model", json={"model": "e5-small"})).status_code == 200
        assert np.array_equal((await embed(client, [QUERY], "query"))[0], query)
