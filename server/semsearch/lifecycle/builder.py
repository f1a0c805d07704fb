"""Build an immutable vector index for one slot's retained chunks in a given embedding space."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import numpy as np

from semsearch.corpus import Chunk
from semsearch.embeddings import EmbeddingProvider, EmbeddingSpace, ProviderResponseError
from semsearch.index import VectorIndex


class SpaceMoved(ProviderResponseError):
    """The provider answered from another space than the one being built: the build is abandoned."""


async def build_index(
    chunks: Sequence[Chunk],
    provider: EmbeddingProvider,
    space: EmbeddingSpace,
    on_progress: Callable[[int], None] | None = None,
) -> VectorIndex:
    """Embed every chunk and return the index; refuse vectors the provider echoed from another space."""
    if not chunks:
        return VectorIndex((), np.empty((0, space.dimensions), dtype=np.float32), space)
    done = 0

    def batch_done(count: int) -> None:
        nonlocal done
        done += count
        if on_progress is not None:
            on_progress(done)

    try:
        result = await provider.embed_documents([chunk.text for chunk in chunks], on_batch=batch_done)
    except ProviderResponseError as exc:
        if "changed model mid-build" in str(exc):
            raise SpaceMoved(str(exc)) from exc
        raise
    if not space.matches_echo(result.model, result.dimensions):
        raise SpaceMoved(
            f"provider answered in {result.model}/{result.dimensions} while building for {space.describe()}"
        )
    # Building the postings walks every chunk: keep it off the event loop for large corpora.
    return await asyncio.to_thread(VectorIndex, chunks, result.vectors, space)
