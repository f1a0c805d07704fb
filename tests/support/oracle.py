"""Oracles: re-score every hit in the space its response names, and check every watch stream.

The proxy's models are deterministic, so a test can recompute any vector. A hit whose dense score is
not ``dot(query, chunk)`` in the space the response names was scored across two spaces: mixed.

Hash models embed queries and documents alike (they ignore ``input_type``); real models do not
(e5 prefixes ``query:``/``passage:``), so vectors are always computed for the task the server used.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable, Iterable
from functools import cache
from typing import Literal

import grpc
import numpy as np
import numpy.typing as npt
import pytest

from semsearch.api.v1 import admin_pb2, admin_pb2_grpc, search_pb2, types_pb2
from semsearch.embeddings import PROBE_TEXT
from semsearch.embeddings.digest import fingerprint_digest
from semsearch.proxy.models import load_model
from tests.support.corpora import fixture_chunks

Task = Literal["query", "document"]
SCORE_TOLERANCE = 1e-4  # float32 products in another order; a cross-space score is off by ~0.1
READY = types_pb2.INDEX_STATE_READY


@cache
def vector(model: str, text: str, task: Task) -> npt.NDArray[np.float32]:
    return load_model(model).embed([text], task)[0]


def expected_score(model: str, query: str, chunk_text: str) -> float:
    """The score the server must give: the query embedded as a query, the chunk as a document."""
    return float(vector(model, query, "query") @ vector(model, chunk_text, "document"))


def dense_score(hit: search_pb2.SearchHit) -> float:
    """The hit's cosine in the response's space: ``dense_score``, set on every hit of an index that
    served dense search (the default hybrid mode ranks by a fused score, not by this one)."""
    assert hit.HasField("dense_score"), f"hit {hit.index}/{hit.chunk_id} carries no dense score"
    return hit.dense_score


def fixture_text(hit: search_pb2.SearchHit) -> str:
    """The embedded text of a hit from the fixture corpora (tests/support/corpora.py)."""
    return fixture_chunks()[(hit.index, hit.chunk_id)].text


def assert_scored_in(
    query: str,
    response: search_pb2.SearchResponse,
    model: str | None = None,
    text_of: Callable[[search_pb2.SearchHit], str] = fixture_text,
    tolerance: float = SCORE_TOLERANCE,
) -> None:
    """Every hit scored in ``model`` (default: the model the response names)."""
    model = model or response.query_space.model
    for hit in response.hits:
        assert dense_score(hit) == pytest.approx(expected_score(model, query, text_of(hit)), abs=tolerance), (
            f"hit {hit.index}/{hit.chunk_id} was not scored in {model}: mixed spaces"
        )


class HashSpaces:
    """Tells which hash model really served a space, whatever name it was served under.

    A space's fingerprint is the provider's vector for PROBE_TEXT, so it (and the digest responses
    carry in its place) names the model behind any alias. ``served_as`` records which real models
    the test put behind each name, which is what a swap behind an unchanged name can confuse (see
    ``classify``).
    """

    def __init__(self, models: Iterable[str]) -> None:
        self.digests = {m: fingerprint_digest(vector(m, PROBE_TEXT, "document")) for m in models}
        self.served_as: dict[str, set[str]] = {}

    def serve(self, real: str, name: str) -> None:
        self.served_as.setdefault(name, set()).add(real)

    def real_model(self, space: types_pb2.EmbeddingSpace) -> str | None:
        return next((m for m, digest in self.digests.items() if digest == space.fingerprint_digest), None)

    def classify(self, query: str, response: search_pb2.SearchResponse) -> Counter[str]:
        """Count the response's hits by verdict.

        ``consistent``: scored in the real model of the named space. ``alias-window``: the index is
        consistent but the query was embedded by another model served under the *same name* — what
        the probe sent with every query exists to prevent. ``mixed``: anything else (an index
        holding vectors of two spaces included)."""
        verdicts: Counter[str] = Counter()
        real = self.real_model(response.query_space)
        for hit in response.hits:
            text = fixture_text(hit)
            score = hit.dense_score if hit.HasField("dense_score") else None
            if score is not None and real is not None and _close(score, expected_score(real, query, text)):
                verdicts["consistent"] += 1
            elif (
                score is not None
                and real is not None
                and any(
                    _close(score, float(vector(other, query, "query") @ vector(real, text, "document")))
                    for other in self.served_as.get(response.query_space.model, set()) - {real}
                )
            ):
                verdicts["alias-window"] += 1
            else:
                verdicts["mixed"] += 1
        return verdicts


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= SCORE_TOLERANCE


class Watch:
    """One WatchIndexes stream, every message checked as it arrives.

    Checks: sequence numbers 1, 2, 3… without gaps; the first message is a snapshot, and a later one
    only replaces the view (the documented coalescing of a subscriber that fell behind); each event
    starts from the state the view holds and carries its own state in ``current``; and READY indexes
    never sit in two different spaces at once. ``view`` is what the subscriber knows.

    With ``stall_after`` the reader stops after that many messages (0: it never reads) until
    ``resume()``: a subscriber that stopped reading.
    """

    def __init__(
        self,
        admin: admin_pb2_grpc.AdminServiceStub,
        indexes: Iterable[str] = (),
        stall_after: int | None = None,
    ) -> None:
        self.indexes = list(indexes)  # empty: every index
        self.call = admin.WatchIndexes(admin_pb2.WatchIndexesRequest(indexes=self.indexes))
        self.view: dict[str, types_pb2.Index] = {}
        self.changes: list[admin_pb2.IndexEvent] = []
        self.messages = 0
        self.snapshots = 0
        self.problems: list[str] = []
        self.stall_after = stall_after
        self._resumed = asyncio.Event()
        self._changed = asyncio.Condition()
        self.task = asyncio.create_task(self._read())

    @property
    def events(self) -> int:
        return len(self.changes)

    def expected(self, listed: Iterable[types_pb2.Index]) -> dict[str, types_pb2.Index]:
        """What the view must be once the stream caught up with ``listed`` (a ListIndexes answer)."""
        return {ix.name: ix for ix in listed if not self.indexes or ix.name in self.indexes}

    def resume(self) -> None:
        self._resumed.set()

    async def _read(self) -> None:
        with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
            while True:
                if self.stall_after is not None and self.messages >= self.stall_after:
                    await self._resumed.wait()
                message = await self.call.read()
                if message is grpc.aio.EOF:
                    return
                self._apply(message)
                async with self._changed:
                    self._changed.notify_all()

    def _apply(self, message: admin_pb2.WatchIndexesResponse) -> None:
        self.messages += 1
        if message.sequence != self.messages:
            self.problems.append(f"sequence {message.sequence} where {self.messages} was due")
        if message.HasField("snapshot"):
            self.snapshots += 1
            self.view = {ix.name: ix for ix in message.snapshot.indexes}
        elif self.messages == 1:
            self.problems.append("the stream did not start with a snapshot")
        else:
            change = message.event
            self.changes.append(change)
            held = self.view.get(change.index)
            if held is None or held.state != change.previous_state or change.current.state != change.state:
                self.problems.append(f"event {message.sequence} does not follow the view: {change}")
            self.view[change.index] = change.current
        spaces = {ix.space.fingerprint_digest for ix in self.view.values() if ix.state == READY}
        if len(spaces) > 1:
            self.problems.append(
                f"after message {message.sequence}, READY indexes sit in {len(spaces)} spaces"
            )

    async def until(self, condition: Callable[[], bool], timeout: float = 30) -> None:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(condition)

    async def close(self) -> None:
        self.call.cancel()
        self.task.cancel()  # a stalled reader waits for resume(), not for the call
        await self.task
