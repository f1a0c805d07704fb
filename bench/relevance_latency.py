"""What the pooled-search ranking costs: HYBRID search latency on the EIP index, before and after.

Before: reciprocal rank fusion, each index's own BM25 statistics. After: the default ranking (the
fusion ``bench.relevance_tuning`` chose, idf shared by every searched index). Every relevance
question is searched HYBRID in the eips index alone, in-process on the relevance benchmark's
server, its query vector already cached, so what is timed is the searches and the ranking, not the
embedding model. The two rankings take turns, in rounds ordered ABBA, so drift on a busy machine
falls on both alike.

``python -m bench.relevance_latency`` prints the figures alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bench.relevance_labels import TOP_K, Question, load_questions
from bench.relevance_tuning import RRF, per_index_idf
from bench.report import table
from semsearch.app import RunningApp
from semsearch.search.query import SearchMode, validate_query
from semsearch.search.ranking import DEFAULT_FUSION
from semsearch.search.searcher import Searcher

INDEX = "eips"
ROUNDS = 8  # per ranking; each round searches every question once


@dataclass(frozen=True)
class Latency:
    """Milliseconds per search, before and after."""

    before: list[float]
    after: list[float]

    @staticmethod
    def _at(samples: Sequence[float], p: float) -> float:
        return float(np.percentile(samples, p))

    def ratio(self, p: float) -> float:
        return self._at(self.after, p) / self._at(self.before, p)

    def text(self) -> str:
        rows = [
            [name, len(samples), f"{self._at(samples, 50):.2f}", f"{self._at(samples, 95):.2f}"]
            for name, samples in (
                ("before: reciprocal rank fusion, per-index idf", self.before),
                ("after: the default ranking", self.after),
            )
        ]
        rows.append(["after / before", "", f"{self.ratio(50):.2f}×", f"{self.ratio(95):.2f}×"])
        headers = [f"HYBRID, {INDEX} index alone, cached query vector", "searches", "p50 ms", "p95 ms"]
        return table(headers, rows)


async def _timed(searcher: Searcher, questions: Sequence[Question]) -> list[float]:
    samples = []
    for q in questions:
        query = validate_query(q.text, indexes=[INDEX], top_k=TOP_K, mode=SearchMode.HYBRID)
        started = time.perf_counter()
        await searcher.search(query)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def measure(app: RunningApp, questions: Sequence[Question], rounds: int = ROUNDS) -> Latency:
    before, after = Searcher(app.manager), Searcher(app.manager)
    before.fusion = RRF
    after.fusion = DEFAULT_FUSION
    await _timed(after, questions)  # embeds any question not cached yet; times nothing
    cache = app.manager.query_cache
    misses = cache.misses
    timed: dict[bool, list[float]] = {False: [], True: []}
    for n in range(2 * rounds):
        new = n % 4 in (1, 2)  # ABBA
        with contextlib.nullcontext() if new else per_index_idf():
            timed[new] += await _timed(after if new else before, questions)
    if cache.misses != misses:
        raise RuntimeError("a query was embedded while timing: the query cache is too small")
    return Latency(timed[False], timed[True])


async def _main() -> None:
    from bench.relevance import serving  # the server over the four corpora

    async with serving() as app:
        latency = await measure(app, load_questions())
    print(latency.text())


if __name__ == "__main__":
    print("bench: relevance latency ...", file=sys.stderr, flush=True)
    asyncio.run(_main())
