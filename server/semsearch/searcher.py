"""Multi-index search: embed the query once, score it only against indexes built in the same space."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from semsearch.config import SearchConfig
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
from semsearch.lifecycle import IndexManager, IndexState
from semsearch.observability import NO_METRICS, Metrics, SearchOutcome
from semsearch.query import SearchQuery


@dataclass(frozen=True, slots=True)
class Hit:
    index: str
    scored: ScoredChunk


@dataclass(frozen=True, slots=True)
class UnavailableIndex:
    index: str
    state: IndexState
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class SearchResult:
    hits: list[Hit]
    query_space: EmbeddingSpace
    unavailable: list[UnavailableIndex]


_UNAVAILABLE_OUTCOMES: dict[str, SearchOutcome] = {
    IndexNotReady.reason: "not_ready",
    EmbeddingSpaceChanged.reason: "space_changed",
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


class Searcher:
    def __init__(
        self, manager: IndexManager, metrics: Metrics = NO_METRICS, settings: SearchConfig | None = None
    ) -> None:
        self.manager = manager
        self.metrics = metrics
        settings = settings or SearchConfig()
        # Concurrent searches of one index share a matrix product (see index.coalescer).
        self.coalescer = SearchCoalescer(settings.coalesce_window_ms / 1000, settings.max_batch)

    async def search(self, query: SearchQuery) -> SearchResult:
        """Search, and report each covered index's part in it (an index that could not serve says why)."""
        started = time.perf_counter()
        names = list(dict.fromkeys(query.indexes)) or list(self.manager.slots)
        unavailable: list[UnavailableIndex] = []
        try:
            result = await self._search(query, names, unavailable)
        except BaseException as exc:
            if not isinstance(exc, IndexNotFound):  # an unknown name never becomes a label
                self._report(names, unavailable, outcome_of(exc), started)
            raise
        self._report(names, unavailable, "ok", started)
        return result

    def _report(
        self, names: list[str], unavailable: list[UnavailableIndex], rest: SearchOutcome, started: float
    ) -> None:
        seconds = time.perf_counter() - started
        refused = {u.index: _UNAVAILABLE_OUTCOMES.get(u.reason, "not_ready") for u in unavailable}
        for name in names:
            self.metrics.index_searched(name, refused.get(name, rest), seconds)

    async def _search(
        self, query: SearchQuery, names: list[str], unavailable: list[UnavailableIndex]
    ) -> SearchResult:
        for name in names:
            if name not in self.manager.slots:
                self.manager.status(name)  # raises IndexNotFound, before anything else is checked
        # The slots themselves, not status() snapshots: a snapshot counts every chunk, per query.
        slots = [self.manager.slots[name] for name in names]
        unavailable.extend(
            UnavailableIndex(s.name, s.state, IndexNotReady.reason, f"index {s.name!r} is {s.state.value}")
            for s in slots
            if s.state is not IndexState.READY or s.index is None
        )
        if len(unavailable) == len(slots):
            first = unavailable[0]
            raise IndexNotReady(first.message, index=first.index, state=first.state.value)
        embedded = await self._embed(query.text)
        vector = embedded.vectors[0]
        # Take each index reference only now, after the await: a swap meanwhile is seen here.
        serving: list[tuple[str, VectorIndex]] = []
        for name in names:
            slot = self.manager.slots[name]
            index = slot.index
            if slot.state is not IndexState.READY or index is None:
                if all(u.index != name for u in unavailable):
                    unavailable.append(
                        UnavailableIndex(
                            name, slot.state, IndexNotReady.reason, f"index {name!r} is {slot.state.value}"
                        )
                    )
                continue
            if not index.space.admits(embedded):
                unavailable.append(
                    UnavailableIndex(
                        name, slot.state, EmbeddingSpaceChanged.reason, _mismatch(embedded, name, index)
                    )
                )
                continue
            serving.append((name, index))
        if any(u.reason == EmbeddingSpaceChanged.reason for u in unavailable):
            self.manager.wake("query embedded in another space than an index")
        if not serving:
            self._raise_unavailable(unavailable)
        query_space = serving[0][1].space
        spec = SearchSpec.of(
            vector, query.top_k, query.min_score, query.metadata_filter, collapse=not query.all_chunks
        )
        # Every index at once: each joins its own index's batch.
        found = await asyncio.gather(*(self.coalescer.search(index, spec) for _, index in serving))
        hits = [
            Hit(name, scored)
            for (name, _), scored_list in zip(serving, found, strict=True)
            for scored in scored_list
        ]
        hits.sort(key=lambda h: (-h.scored.score, h.index, h.scored.chunk.id))
        return SearchResult(hits[: query.top_k], query_space, unavailable)

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
