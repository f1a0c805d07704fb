"""Turns at the model: a query goes before queued document batches, documents go in slices, and a
batch closest to done goes on first."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np
import pytest

from semsearch.proxy.app import create_app
from semsearch.proxy.hashing import hash_embed
from semsearch.proxy.models import InputType, Vectors
from semsearch.proxy.turns import (
    DOCUMENT,
    QUERY,
    QUERY_STREAK,
    TURN_SECONDS,
    ClientGone,
    SliceCost,
    Turns,
    TurnTaker,
)


class GatedModel:
    """Embeds as hash-v1 does, but every document call waits until the gate opens; records calls."""

    name = "gated"
    dimensions = 384

    def __init__(self) -> None:
        self.calls: list[tuple[InputType, tuple[str, ...]]] = []
        self.entered = threading.Event()
        self.gate = threading.Event()

    def embed(self, texts: Sequence[str], input_type: InputType) -> Vectors:
        self.calls.append((input_type, tuple(texts)))
        if input_type == "document":
            self.entered.set()
            assert self.gate.wait(30), "the test never opened the gate"
        return hash_embed(texts, "hash-v1")


async def until(condition: Any) -> None:
    """Yield to the loop until ``condition()`` holds (it depends only on requests already sent)."""
    async with asyncio.timeout(30):
        while not condition():  # noqa: ASYNC110 - a queue's length has no event to wait on
            await asyncio.sleep(0.001)


async def test_a_query_is_embedded_before_the_batches_queued_ahead_of_it() -> None:
    app = create_app("hash-v1")
    model = GatedModel()
    app.state.proxy.model = model
    app.state.proxy.turns = TurnTaker(fewest_texts=1)  # slices of one text while unmeasured
    turns = app.state.proxy.turns.turns
    batch_a = [f"a{i} validator duties" for i in range(3)]
    batch_b = [f"b{i} fee market" for i in range(3)]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://proxy") as client:

        def post(texts: list[str], input_type: str) -> asyncio.Task[httpx.Response]:
            body = {"input": texts, "input_type": input_type}
            return asyncio.create_task(client.post("/v1/embeddings", json=body))

        first = post(batch_a, "document")
        await asyncio.to_thread(model.entered.wait, 30)  # a's first slice holds the model
        second = post(batch_b, "document")
        await until(lambda: turns.waiting == 1)
        query = post(["who attests"], "query")
        await until(lambda: turns.waiting == 2)
        model.gate.set()
        answers = await asyncio.gather(first, second, query)
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert model.calls[0] == ("document", ("a0 validator duties",))  # a first slice is one text
    # Slices after the first are as long as the measured cost allows: compare text by text.
    assert [(kind, text) for kind, texts in model.calls for text in texts] == [
        ("document", "a0 validator duties"),
        ("query", "who attests"),  # before every slice still queued
        ("document", "a1 validator duties"),  # then the batch closest to done
        ("document", "a2 validator duties"),
        ("document", "b0 fee market"),
        ("document", "b1 fee market"),
        ("document", "b2 fee market"),
    ]
    for answer, texts in zip(answers, (batch_a, batch_b, ["who attests"]), strict=True):
        vectors = np.asarray([item["embedding"] for item in answer.json()["data"]], dtype=np.float32)
        np.testing.assert_allclose(vectors, hash_embed(texts, "hash-v1"), atol=1e-6)  # slices reassembled


async def test_turns_go_to_queries_then_to_the_fewest_texts_left_then_in_arrival_order() -> None:
    turns = Turns()
    order: list[str] = []
    hold = asyncio.Event()

    async def take(name: str, priority: int, left: int, wait: asyncio.Event | None = None) -> None:
        async with turns.turn(priority, left):
            order.append(name)
            if wait is not None:
                await wait.wait()

    holder = asyncio.create_task(take("holder", DOCUMENT, 1, hold))
    await until(lambda: order == ["holder"])
    waiting = [
        asyncio.create_task(take("doc-10", DOCUMENT, 10)),
        asyncio.create_task(take("doc-2", DOCUMENT, 2)),
        asyncio.create_task(take("doc-2-later", DOCUMENT, 2)),
        asyncio.create_task(take("query", QUERY, 2)),
    ]
    await until(lambda: turns.waiting == 4)
    hold.set()
    await asyncio.gather(holder, *waiting)
    assert order == ["holder", "query", "doc-2", "doc-2-later", "doc-10"]


async def test_queries_that_keep_coming_do_not_starve_a_document() -> None:
    turns = Turns()
    order: list[str] = []
    hold = asyncio.Event()

    async def take(name: str, priority: int, wait: asyncio.Event | None = None) -> None:
        async with turns.turn(priority, 1):
            order.append(name)
            if wait is not None:
                await wait.wait()

    holder = asyncio.create_task(take("holder", QUERY, hold))
    await until(lambda: order == ["holder"])
    waiting = [asyncio.create_task(take("doc", DOCUMENT))]
    waiting += [asyncio.create_task(take(f"q{i}", QUERY)) for i in range(QUERY_STREAK + 2)]
    await until(lambda: turns.waiting == QUERY_STREAK + 3)
    hold.set()
    await asyncio.gather(holder, *waiting)
    queries = [f"q{i}" for i in range(QUERY_STREAK + 2)]
    # The holder was a query granted while nothing else waited: the streak counts from the next one.
    assert order == ["holder", *queries[:QUERY_STREAK], "doc", *queries[QUERY_STREAK:]]


async def test_a_turn_cancelled_while_waiting_is_skipped() -> None:
    turns = Turns()
    order: list[str] = []
    hold = asyncio.Event()

    async def take(name: str, wait: asyncio.Event | None = None) -> None:
        async with turns.turn(DOCUMENT, 1):
            order.append(name)
            if wait is not None:
                await wait.wait()

    holder = asyncio.create_task(take("holder", hold))
    await until(lambda: order == ["holder"])
    cancelled, after = asyncio.create_task(take("cancelled")), asyncio.create_task(take("after"))
    await until(lambda: turns.waiting == 2)
    cancelled.cancel()
    hold.set()
    await asyncio.gather(holder, after)
    assert order == ["holder", "after"] and cancelled.cancelled()


def test_a_slice_holds_what_the_model_embeds_in_about_one_turn_and_never_too_few() -> None:
    cost = SliceCost(fewest=2)
    texts = ["x" * 100] * 10
    assert cost.slice_end(texts, 0) == 2  # nothing measured yet: the fewest
    cost.measured(texts[:2], TURN_SECONDS / 2)  # 200 characters in half a turn
    assert cost.slice_end(texts, 0) == 4
    assert cost.slice_end(texts, 8) == 10  # never past the end
    assert cost.slice_end(texts, 9) == 10
    slow = SliceCost(fewest=2)
    slow.measured(texts[:2], TURN_SECONDS * 50)  # a text takes many turns: still two per slice
    assert slow.slice_end(texts, 3) == 5


def test_a_proxy_slices_at_least_two_texts_per_core() -> None:
    from semsearch.proxy.models import cpu_count

    assert TurnTaker().fewest_texts == 2 * cpu_count()


async def test_the_slices_of_a_request_whose_client_is_gone_are_not_embedded() -> None:
    model = GatedModel()
    model.gate.set()
    taker = TurnTaker(fewest_texts=1)
    checks: list[int] = []

    async def gone() -> bool:
        checks.append(len(model.calls))
        return len(model.calls) >= 1  # the client left while the first slice was embedded

    with pytest.raises(ClientGone) as caught:
        await taker.embed(model, ["a", "b", "c"], "document", gone)
    assert len(model.calls) == 1 and (caught.value.embedded, caught.value.total) == (1, 3)
    assert checks == [0, 1]  # asked before each slice
    # The turn was given back: the next request is embedded at once.
    assert (await taker.embed(model, ["who attests"], "query")).shape == (1, 384)
