"""Multi-index search: embed the query once, score it only against indexes built in the same space.

Dense search needs an index READY in the query's space; lexical search (BM25) only needs the index's
sources, so with ``allow_degraded`` an index that cannot serve dense search answers with words and
is reported as degraded. How the hits of every index become one ranking is ``semsearch.search.ranking``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from semsearch.config import SearchConfig
from semsearch.corpus import Chunk
from semsearch.embeddings import Embeddings, EmbeddingSpace, ProviderError
from semsearch.errors import (
    EmbeddingProviderUnavailable,
    EmbeddingSpaceChanged,
    IndexNotFound,
    IndexNotReady,
    InvalidArgument,
    Unavailable,
)
from semsearch.index import ScoredChunk, SearchCoalescer, SearchSpec, VectorIndex
from semsearch.index.lexical import LexicalIndex, shared_idf
from semsearch.index.topk import canonical_scores
from semsearch.lifecycle import IndexManager, IndexState, ServingGeneration
from semsearch.observability import NO_METRICS, Metrics, SearchOutcome
from semsearch.search.hits import Contribution, Hit
from semsearch.search.pinning import named_chunks
from semsearch.search.query import SearchMode, SearchQuery
from semsearch.search.ranking import DEFAULT_FUSION, Fusion, collapse_in_index, depth, rank

# Above this many chunks a BM25 query costs milliseconds: run it in a worker thread.
LEXICAL_OFFLOAD_CHUNKS = 20_000


@dataclass(frozen=True, slots=True)
class UnavailableIndex:
    index: str
    state: IndexState
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class SearchResult:
    hits: list[Hit]
    query_space: EmbeddingSpace | None  # None when no index served dense search
    unavailable: list[UnavailableIndex]
    mode: SearchMode = SearchMode.DENSE  # how the hits were ranked: what their score means
    degraded: list[UnavailableIndex] = field(default_factory=list)  # answered with words only, and why


_UNAVAILABLE_OUTCOMES: dict[str, SearchOutcome] = {
    IndexNotReady.reason: "not_ready",
    EmbeddingSpaceChanged.reason: "space_changed",
    EmbeddingProviderUnavailable.reason: "provider_unavailable",
}


def outcome_of(error: BaseException) -> SearchOutcome:
    """The metrics outcome of a search that ended in ``error``."""
    if isinstance(error, asyncio.CancelledError):
        return "cancelled"  # the client went away or its deadline passed
    if isinstance(error, InvalidArgument):
        return "invalid"
    if isinstance(error, IndexNotFound):
        return "not_found"
    if isinstance(error, EmbeddingProviderUnavailable):
        return "provider_unavailable"
    if isinstance(error, Unavailable):
        return _UNAVAILABLE_OUTCOMES.get(error.reason, "not_ready")
    return "error"


def _mismatch(embedded: Embeddings, name: str, index: VectorIndex) -> str:
    echoed = f"{embedded.model}/{embedded.dimensions}"
    if index.space.matches_echo(embedded.model, embedded.dimensions):
        return f"query embedded by another model served as {echoed}; index {name!r} was built before the swap"
    return f"query embedded in {echoed}, index {name!r} built in {index.space.describe()}"


def _not_ready(name: str, state: IndexState, detail: str = "") -> UnavailableIndex:
    message = f"index {name!r} is {state.value}" + (f": {detail}" if detail else "")
    return UnavailableIndex(name, state, IndexNotReady.reason, message)


def _dense_scorer(generation: ServingGeneration, vector: np.ndarray) -> Callable[[Chunk], float | None]:
    """The dense score of any chunk of a generation (for hits only words found): the canonical
    score, the very value dense search would give it. Both indexes of a generation share its rows."""
    vectors, rows = generation.vectors, generation.lexical.rows
    assert vectors is not None

    def score(chunk: Chunk) -> float | None:
        row = rows.get(chunk.id)
        if row is None:
            return None
        return float(canonical_scores(vectors.matrix, np.array([row]), vector)[0])

    return score


def _vectors(generation: ServingGeneration) -> VectorIndex:
    assert generation.vectors is not None  # only generations with vectors serve dense search
    return generation.vectors


def _lexical_scorer(
    lexical: LexicalIndex, text: str, shared: dict[str, float]
) -> Callable[[Chunk], float | None]:
    def score(chunk: Chunk) -> float | None:
        row = lexical.rows.get(chunk.id)
        return None if row is None else float(lexical.scores(text, shared)[row])

    return score


class Searcher:
    def __init__(
        self, manager: IndexManager, metrics: Metrics = NO_METRICS, settings: SearchConfig | None = None
    ) -> None:
        self.manager = manager
        self.metrics = metrics
        settings = settings or SearchConfig()
        self.fusion: Fusion = DEFAULT_FUSION
        # Concurrent searches of one index share a matrix product (see index.coalescer).
        self.coalescer = SearchCoalescer(
            settings.coalesce_window_ms / 1000, settings.max_batch, threads=settings.threads or None
        )

    async def search(self, query: SearchQuery) -> SearchResult:
        """Search, and report each covered index's part in it (an index that could not serve says why)."""
        started = time.perf_counter()
        names = list(dict.fromkeys(query.indexes)) or list(self.manager.slots)
        unavailable: list[UnavailableIndex] = []
        degraded: list[UnavailableIndex] = []  # counted as what kept dense search out
        try:
            result = await self._search(query, names, unavailable, degraded)
        except BaseException as exc:
            if not isinstance(exc, IndexNotFound):  # an unknown name never becomes a label
                self._report(names, unavailable + degraded, outcome_of(exc), started)
            raise
        self._report(names, unavailable + degraded, "ok", started)
        return result

    def _report(
        self, names: list[str], unavailable: list[UnavailableIndex], rest: SearchOutcome, started: float
    ) -> None:
        seconds = time.perf_counter() - started
        refused = {u.index: _UNAVAILABLE_OUTCOMES.get(u.reason, "not_ready") for u in unavailable}
        for name in names:
            self.metrics.index_searched(name, refused.get(name, rest), seconds)

    async def _search(
        self,
        query: SearchQuery,
        names: list[str],
        unavailable: list[UnavailableIndex],
        degraded: list[UnavailableIndex],
    ) -> SearchResult:
        for name in names:
            if name not in self.manager.slots:
                self.manager.status(name)  # raises IndexNotFound, before anything else is checked
        # The slots themselves, not status() snapshots: a snapshot counts every chunk, per query.
        slots = [self.manager.slots[name] for name in names]
        words_only = query.mode is SearchMode.LEXICAL  # nothing to embed: any state will do
        # Why each index cannot serve dense search, as far as can be told before embedding.
        refused = {
            s.name: _not_ready(s.name, s.state)
            for s in slots
            if not words_only and (s.state is not IndexState.READY or s.index is None)
        }
        if len(refused) == len(slots) and not (words_only or query.allow_degraded):
            first = refused[slots[0].name]
            raise IndexNotReady(first.message, index=first.index, state=first.state.value)
        embedded: Embeddings | None = None
        if len(refused) < len(slots) and not words_only:
            try:
                embedded = await self._embed(query.text)
            except EmbeddingProviderUnavailable as exc:
                if not query.allow_degraded:
                    raise
                for s in slots:  # without the query's vector no index can serve dense search
                    refused.setdefault(s.name, UnavailableIndex(s.name, s.state, exc.reason, exc.message))
        # Take each generation only now, after the await: a swap meanwhile is seen here. One
        # reference per index: its words, vectors and space are of one build.
        dense: list[tuple[str, ServingGeneration]] = []
        lexical_only: list[tuple[str, LexicalIndex]] = []
        for name in names:
            slot = self.manager.slots[name]
            serving = slot.serving
            index = serving.vectors if serving is not None else None
            lexical = serving.lexical if serving is not None else None
            if words_only:
                if lexical is not None:
                    lexical_only.append((name, lexical))
                else:
                    unavailable.append(_not_ready(name, slot.state, "its sources are not indexed yet"))
                continue
            why = refused.get(name)
            if why is None and (slot.state is not IndexState.READY or index is None):
                why = _not_ready(name, slot.state)
            if why is None and index is not None and embedded is not None:
                if index.space.admits(embedded):
                    assert serving is not None
                    dense.append((name, serving))
                    continue
                why = UnavailableIndex(
                    name, slot.state, EmbeddingSpaceChanged.reason, _mismatch(embedded, name, index)
                )
            assert why is not None  # every path above that did not serve dense search says why
            if query.allow_degraded and lexical is not None:
                degraded.append(why)  # words only: never a dense score from this index
                lexical_only.append((name, lexical))
            else:
                unavailable.append(why)
        if any(u.reason == EmbeddingSpaceChanged.reason for u in unavailable + degraded):
            self.manager.wake("query embedded in another space than an index")
        if not dense and not lexical_only:
            self._raise_unavailable(unavailable)
        contributions = await self._contributions(query, embedded, dense, lexical_only)
        hits, mode = rank(
            contributions, query.top_k, query.min_score, collapse=not query.all_chunks, fusion=self.fusion
        )
        query_space = dense[0][1].space if dense else None
        return SearchResult(hits, query_space, unavailable, mode, degraded)

    async def _contributions(
        self,
        query: SearchQuery,
        embedded: Embeddings | None,
        dense: list[tuple[str, ServingGeneration]],
        lexical_only: list[tuple[str, LexicalIndex]],
    ) -> list[Contribution]:
        """Each index's hits per signal: dense where it serves, words in HYBRID and where degraded."""
        wanted = depth(query.mode, query.top_k, self.fusion)
        collapse = collapse_in_index(query.mode, not query.all_chunks, self.fusion)
        hybrid = query.mode is SearchMode.HYBRID
        pin = query.mode is not SearchMode.DENSE  # pinning is a lexical signal
        # BM25 scores of several indexes compare only with one idf per term over all of them.
        worded = [g.lexical for _, g in dense if hybrid] + [lexical for _, lexical in lexical_only]
        shared = shared_idf(worded, query.text)
        contributions: list[Contribution] = []
        if dense:
            assert embedded is not None  # an index serves dense search only in the query's space
            vector = embedded.vectors[0]
            spec = SearchSpec.of(vector, wanted, query.min_score, query.metadata_filter, collapse=collapse)
            # Every index at once: each joins its own index's batch.
            found = await asyncio.gather(*(self.coalescer.search(_vectors(g), spec) for _, g in dense))
            for (name, generation), scored in zip(dense, found, strict=True):
                words = generation.lexical if hybrid else None
                contributions.append(
                    Contribution(
                        name,
                        dense=scored,
                        lexical=await self._words(words, query, wanted, collapse, shared)
                        if words is not None
                        else None,
                        named=named_chunks(words, query) if words is not None else (),
                        dense_of=_dense_scorer(generation, vector),
                        size=len(generation.chunks),
                    )
                )
        for name, lexical in lexical_only:
            contributions.append(
                Contribution(
                    name,
                    lexical=await self._words(lexical, query, wanted, collapse, shared),
                    named=named_chunks(lexical, query) if pin else (),
                    lexical_of=_lexical_scorer(lexical, query.text, shared),
                )
            )
        return contributions

    @staticmethod
    async def _words(
        lexical: LexicalIndex, query: SearchQuery, wanted: int, collapse: bool, shared: dict[str, float]
    ) -> list[ScoredChunk]:
        args = (query.text, wanted, query.metadata_filter, collapse, shared)
        if len(lexical) > LEXICAL_OFFLOAD_CHUNKS:
            return await asyncio.to_thread(lexical.search, *args)
        return lexical.search(*args)

    async def _embed(self, text: str, again: bool = True) -> Embeddings:
        space, cache = self.manager.provider_space, self.manager.query_cache
        model = self.manager.provider.model
        cached = cache.get(space, text)
        if cached is not None:
            return cached
        try:
            embedded = await self.manager.provider.embed_query(text, with_probe=True)
        except ProviderError as exc:
            raise EmbeddingProviderUnavailable(
                f"embedding provider failed: {exc}", retry_after=exc.retry_after or 1.0
            ) from exc
        if again and self.manager.provider.model != model:
            # A model migration swapped every index meanwhile: embed again, with the new model.
            return await self._embed(text, again=False)
        cache.put(space, text, embedded)
        return embedded

    def _raise_unavailable(self, unavailable: list[UnavailableIndex]) -> None:
        changed = [u for u in unavailable if u.reason == EmbeddingSpaceChanged.reason]
        if changed:
            raise EmbeddingSpaceChanged(changed[0].message, retry_after=2.0, index=changed[0].index)
        first = unavailable[0]
        error: Unavailable = IndexNotReady(first.message, index=first.index, state=first.state.value)
        raise error
