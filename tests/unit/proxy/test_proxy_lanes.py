"""Lanes: on a model that allows it, a query runs beside the document slice in flight instead of
waiting for it, and document slices run at a lower scheduling priority than queries."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Sequence

import numpy as np
import pytest

from semsearch.proxy.hashing import hash_embed
from semsearch.proxy.models import InputType, LaneModel, Vectors
from semsearch.proxy.turns import DOCUMENT_NICE, TurnTaker


class GatedLaneModel:
    """hash-v1 vectors; every document call waits for the gate; records (kind, texts, niceness)."""

    name = "gated-lanes"
    dimensions = 384

    def __init__(self) -> None:
        self.calls: list[tuple[InputType, tuple[str, ...], int]] = []
        self.entered = threading.Event()
        self.gate = threading.Event()

    def embed(self, texts: Sequence[str], input_type: InputType) -> Vectors:
        raise AssertionError("a lane model is called on its lanes")

    def embed_beside(self, texts: Sequence[str], input_type: InputType) -> Vectors:
        self.calls.append(
            (input_type, tuple(texts), os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        )
        if input_type == "document":
            self.entered.set()
            assert self.gate.wait(30), "the test never opened the gate"
        return hash_embed(texts, "hash-v1")


async def test_a_query_does_not_wait_for_the_document_slice_in_flight() -> None:
    model = GatedLaneModel()
    assert isinstance(model, LaneModel)
    taker = TurnTaker(fewest_texts=1)
    batch = ["a0 validator duties", "a1 validator duties"]
    documents = asyncio.create_task(taker.embed(model, batch, "document"))
    await asyncio.to_thread(model.entered.wait, 30)  # the first slice holds its lane, gate closed
    vectors = await asyncio.wait_for(taker.embed(model, ["who attests"], "query"), 30)
    np.testing.assert_allclose(vectors, hash_embed(["who attests"], "hash-v1"), atol=1e-6)
    assert not documents.done()  # answered while the slice was still being embedded
    model.gate.set()
    np.testing.assert_allclose(await documents, hash_embed(batch, "hash-v1"), atol=1e-6)
    assert [(kind, texts) for kind, texts, _ in model.calls] == [
        ("document", ("a0 validator duties",)),
        ("query", ("who attests",)),  # while the first slice was still in the model
        ("document", ("a1 validator duties",)),
    ]
    if sys.platform == "linux":
        ours = os.getpriority(os.PRIO_PROCESS, 0)
        niceness = {kind: nice for kind, _, nice in model.calls}
        assert niceness == {"query": ours, "document": min(19, ours + DOCUMENT_NICE)}


@pytest.mark.slow
async def test_e5_on_two_lanes_at_once_gives_the_vectors_it_gives_alone() -> None:
    from semsearch.proxy.models import load_model

    model = load_model("e5-small")
    assert isinstance(model, LaneModel)
    passages = [f"passage {i}: the fee market burns the base fee of every transaction" for i in range(8)]
    queries = ["how is the base fee burned", "who proposes the next block"]
    alone_passages = model.embed(passages, "document")
    alone_queries = model.embed(queries, "query")
    taker = TurnTaker(fewest_texts=2)
    together = await asyncio.gather(
        taker.embed(model, passages, "document"),
        *(taker.embed(model, [q], "query") for q in queries * 3),
    )
    np.testing.assert_allclose(together[0], alone_passages, atol=1e-5)
    for got, want in zip(together[1:], [*alone_queries] * 3, strict=True):
        np.testing.assert_allclose(got[0], want, atol=1e-5)


@pytest.mark.skipif(sys.platform != "linux", reason="threads have a niceness of their own on Linux only")
def test_the_document_lane_is_lowered_from_the_process_own_niceness() -> None:
    # A proxy started with `nice -n 5` keeps its documents below its queries: 15, not 10.
    code = (
        "import os, threading\n"
        "os.nice(5)\n"
        "from semsearch.proxy.turns import document_lane\n"
        "get = lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id())\n"
        "print(get(), document_lane().submit(get).result())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    process, lane = map(int, done.stdout.split())
    assert lane == min(19, process + DOCUMENT_NICE) and lane > process
