"""The real all-MiniLM-L6-v2 model: its vectors, its one engine, and a switch to it through the proxy API."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import textwrap
import threading

import httpx
import numpy as np
import pytest

from semsearch.proxy import models
from semsearch.proxy.app import create_app
from semsearch.proxy.models import AliasedModel, MiniLMModel, load_model

QUERY = "how do I restart a stuck validator"
RELEVANT = "Restarting the validator client when it hangs"
IRRELEVANT = "Fee market for blob transactions"
TEXTS = [QUERY, RELEVANT, IRRELEVANT, "hello world", "", "Ethereum"]

# Measured cosines between MiniLM and e5-small vectors of the same text (either e5 prefix) were within
# ±0.14 on the texts above: the two spaces are unrelated. A model silently replaced by the other gives
# cosines near 1, so 0.5 separates the two cases with a wide margin either side.
UNRELATED_SPACES = 0.5

# The first components of "hello world" from sentence-transformers/all-MiniLM-L6-v2 (normalised): they
# pin the weights, so another model in the package, or one loaded in another way, fails here.
HELLO_WORLD_HEAD = [-0.03447726, 0.03102322, 0.00673497, 0.02610899, -0.03936195]


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", textwrap.dedent(code)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=240, check=False)


def test_proxy_modules_do_not_import_torch() -> None:
    """The server and a proxy serving another model never pay for torch's import."""
    result = run_python(
        """
        import sys
        from semsearch.proxy.app import create_app
        from semsearch.proxy.models import known_models

        create_app("hash-v1")
        assert "minilm" in known_models()
        heavy = sorted(m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules)
        assert not heavy, heavy
        """,
        env=dict(os.environ),
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_minilm_vectors() -> None:
    model = load_model("minilm")
    assert isinstance(model, MiniLMModel)
    assert model.name == "minilm"
    assert model.dimensions == 384

    vectors = model.embed(TEXTS, "document")
    assert vectors.dtype == np.float32
    assert vectors.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vectors[TEXTS.index("hello world"), :5], HELLO_WORLD_HEAD, atol=1e-4)

    # deterministic, and without prefixes: a query embeds exactly like a document
    assert np.array_equal(model.embed(TEXTS, "document"), vectors)
    assert np.array_equal(model.embed(TEXTS, "query"), vectors)
    # batched with other texts or alone, a text gets (numerically) the same vector
    np.testing.assert_allclose(model.embed([RELEVANT], "document")[0], vectors[1], atol=1e-5)

    assert model.embed([], "query").shape == (0, 384)


@pytest.mark.slow
def test_minilm_ranks_a_paraphrase_above_an_unrelated_text() -> None:
    model = load_model("minilm")
    query = model.embed([QUERY], "query")[0]
    relevant, irrelevant = model.embed([RELEVANT, IRRELEVANT], "document")
    # measured: 0.81 against -0.12
    assert float(query @ relevant) > 0.6
    assert float(query @ relevant) > float(query @ irrelevant) + 0.4


@pytest.mark.slow
@pytest.mark.parametrize("e5_input_type", ["query", "document"])
def test_minilm_and_e5_small_are_different_spaces_of_the_same_size(e5_input_type: models.InputType) -> None:
    minilm, e5 = load_model("minilm"), load_model("e5-small")
    assert minilm.dimensions == e5.dimensions == 384  # so a dimension check cannot tell them apart
    cosines = np.sum(minilm.embed(TEXTS, "document") * e5.embed(TEXTS, e5_input_type), axis=1)
    assert np.all(np.abs(cosines) < UNRELATED_SPACES), cosines


@pytest.mark.slow
def test_minilm_loads_once_per_process() -> None:
    first = load_model("minilm")
    second = load_model("minilm")
    assert isinstance(first, MiniLMModel)
    assert isinstance(second, MiniLMModel)
    assert first._engine is second._engine
    assert models._minilm_engine is first._engine
    assert np.array_equal(first.embed([QUERY], "query"), second.embed([QUERY], "query"))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["minilm", "e5-small"])
def test_the_real_engines_take_turns(name: str) -> None:
    """Both engines use every core, so a call into either waits while the other runs (one shared lock)."""
    model = load_model(name)
    done = threading.Event()

    def call() -> None:
        model.embed([QUERY], "query")
        done.set()

    worker = threading.Thread(target=call)
    with models._engine_call_lock:  # as if the other engine were mid-call
        worker.start()
        assert not done.wait(1.0)
    assert done.wait(60)
    worker.join()


@pytest.mark.slow
@pytest.mark.parametrize("omp_threads", [None, "1"])
def test_minilm_loads_offline_on_every_core(omp_threads: str | None) -> None:
    """A fresh process without the Hugging Face variables: the loader sets them, and torch's threads."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_", "OMP_"))}
    if omp_threads is not None:
        env["OMP_NUM_THREADS"] = omp_threads
    result = run_python(
        """
        import os
        from semsearch.proxy.models import load_model

        load_model("minilm").embed(["a text"], "document")
        import torch

        print(os.environ["HF_HUB_OFFLINE"], os.environ["TRANSFORMERS_OFFLINE"], torch.get_num_threads())
        """,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    threads = omp_threads or str(len(os.sched_getaffinity(0)))  # an operator's cap wins over every core
    assert result.stdout.split() == ["1", "1", threads]
    assert "Loading weights" not in result.stderr  # no progress bar in the proxy's log


async def embed(client: httpx.AsyncClient, texts: list[str], input_type: str) -> tuple[str, np.ndarray]:
    response = await client.post(
        "/v1/embeddings", json={"input": texts, "input_type": input_type, "encoding_format": "base64"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    vectors = np.stack([np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4") for d in body["data"]])
    return body["model"], vectors


@pytest.mark.slow
async def test_switching_the_proxy_from_e5_small_to_minilm() -> None:
    app = create_app("e5-small")
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 123))
    async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as client:
        name, e5_vectors = await embed(client, TEXTS, "document")
        assert name == "e5-small"

        switched = await client.post("/admin/model", json={"model": "minilm"})
        assert switched.status_code == 200, switched.text
        assert switched.json() == {"model": "minilm", "dimensions": 384, "previous": "e5-small"}
        health = (await client.get("/health")).json()
        assert {k: health[k] for k in ("status", "model", "dimensions")} == {
            "status": "ok",
            "model": "minilm",
            "dimensions": 384,
        }

        name, minilm_vectors = await embed(client, TEXTS, "document")
        assert name == "minilm"
        assert minilm_vectors.shape == e5_vectors.shape == (len(TEXTS), 384)
        # Documents are embedded in slices (proxy/turns.py) and MiniLM pads each slice to its own
        # longest text, which moves the last float digits: equal to within float32 noise.
        np.testing.assert_allclose(minilm_vectors, load_model("minilm").embed(TEXTS, "document"), atol=1e-6)
        assert np.all(np.abs(np.sum(minilm_vectors * e5_vectors, axis=1)) < UNRELATED_SPACES)
        _, as_query = await embed(client, TEXTS, "query")
        np.testing.assert_allclose(as_query, minilm_vectors, atol=1e-6)

        # the dangerous swap: MiniLM behind e5-small's name, same size, other space
        aliased = await client.post("/admin/model", json={"model": "minilm", "serve_as": "e5-small"})
        assert aliased.json() == {"model": "e5-small", "dimensions": 384, "previous": "minilm"}
        assert isinstance(app.state.proxy.model, AliasedModel)
        name, disguised = await embed(client, TEXTS, "document")
        assert name == "e5-small"
        np.testing.assert_allclose(disguised, minilm_vectors, atol=1e-6)

        # and back: the one loaded e5 engine answers as before
        assert (await client.post("/admin/model", json={"model": "e5-small"})).status_code == 200
        name, again = await embed(client, TEXTS, "document")
        assert name == "e5-small"
        assert np.array_equal(again, e5_vectors)
