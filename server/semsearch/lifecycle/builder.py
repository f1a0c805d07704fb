"""Build an immutable vector index for a set of chunks in a given embedding space.

Vectors come from the durable cache where it has them; only the rest reach the provider, in
concurrent batches, each stored back as soon as it is answered. Every vector is checked to come
from ``space``. Progress reports the build's pace (chunks per second) and the seconds left at it.
Each build's duration and outcome, and the cache's hits and misses, go to the provider's metrics.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

import numpy as np

from semsearch.corpus import Chunk
from semsearch.embeddings import EmbeddingProvider, EmbeddingSpace, SpaceMoved
from semsearch.index import VectorIndex
from semsearch.lifecycle.pace import Pace
from semsearch.lifecycle.slot import Progress
from semsearch.observability import RebuildOutcome
from semsearch.store import VectorCache

DOCUMENT_TASK = "document"


async def build_index(
    chunks: Sequence[Chunk],
    provider: EmbeddingProvider,
    space: EmbeddingSpace,
    cache: VectorCache | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> VectorIndex:
    """Raises SpaceMoved when the provider answers from another space, ProviderError otherwise."""
    started = time.perf_counter()
    outcome: RebuildOutcome = "failed"  # a provider error, or anything unexpected
    try:
        index = await _build(chunks, provider, space, cache, on_progress)
        outcome = "ok"
        return index
    except SpaceMoved:
        outcome = "space_moved"
        raise
    except asyncio.CancelledError:
        outcome = "cancelled"  # the watcher stopped, or abandoned the build
        raise
    finally:
        provider.metrics.rebuild_finished(outcome, time.perf_counter() - started)


async def _build(
    chunks: Sequence[Chunk],
    provider: EmbeddingProvider,
    space: EmbeddingSpace,
    cache: VectorCache | None,
    on_progress: Callable[[Progress], None] | None,
) -> VectorIndex:
    total = len(chunks)
    vectors = np.empty((total, space.dimensions), dtype=np.float32)
    texts = [chunk.text for chunk in chunks]
    missing = list(range(total))
    if cache is not None and total:
        found = await asyncio.to_thread(cache.lookup, space, DOCUMENT_TASK, texts)
        missing = []
        for row, vector in enumerate(found):
            if vector is None:
                missing.append(row)
            else:
                vectors[row] = vector
    cached = total - len(missing)
    if cache is not None:
        provider.metrics.chunk_cache_lookup(cached, len(missing))
    done = cached
    pace = Pace(len(missing))
    if on_progress is not None:
        on_progress(Progress(done, total, cached, seconds_left=0.0 if not missing else None))

    def batch_done(count: int) -> None:
        nonlocal done
        done += count
        pace.embedded(count)
        if on_progress is not None:
            on_progress(Progress(done, total, cached, pace.rate, pace.seconds_left))

    if missing:
        wanted = [texts[row] for row in missing]
        stores: list[asyncio.Task[None]] = []

        def store(batch: Sequence[str], batch_vectors: np.ndarray) -> None:
            # Each checked batch is stored at once, while the next ones are embedded: the store
            # overlaps the provider's work, and a crash keeps every batch already answered.
            assert cache is not None
            stores.append(
                asyncio.create_task(
                    asyncio.to_thread(cache.store, space, DOCUMENT_TASK, list(batch), batch_vectors)
                )
            )

        try:
            result = await provider.embed_documents(
                wanted,
                on_batch=batch_done,
                expect=(space.model, space.dimensions),
                fingerprint=space.fingerprint,
                on_vectors=store if cache is not None else None,
            )
        finally:
            if stores:  # stored batches are valid whatever happens next: let them finish
                await asyncio.gather(*stores, return_exceptions=True)
        vectors[missing] = result.vectors
    # Building the postings walks every chunk: keep it off the event loop for large corpora.
    return await asyncio.to_thread(VectorIndex, chunks, vectors, space)
