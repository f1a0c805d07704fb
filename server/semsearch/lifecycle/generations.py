"""Making a serving generation: the words and vectors of one chunk tuple, put in the store and made
current there. Nothing here touches a slot: the manager swaps in what these return."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from semsearch.corpus import Document
from semsearch.embeddings import EmbeddingProvider, EmbeddingSpace
from semsearch.index import VectorIndex
from semsearch.index.lexical import LexicalIndex
from semsearch.lifecycle.builder import build_index
from semsearch.lifecycle.generation import ServingGeneration
from semsearch.lifecycle.lexical import lexical_for
from semsearch.lifecycle.slot import Progress
from semsearch.lifecycle.sources import IndexSource
from semsearch.logs import event
from semsearch.store import GenerationStore, StoredGeneration, VectorCache

log = logging.getLogger(__name__)


def kept_documents(
    lexical: LexicalIndex, documents: tuple[Document, ...], current: ServingGeneration | None
) -> tuple[Document, ...]:
    """The documents a new generation holds: when it keeps the current generation's words (equal
    chunks), the current documents too, so one copy of the text stays in memory, not two."""
    if current is not None and current.lexical is lexical and current.documents == documents:
        return current.documents
    return documents


async def build_generation(
    current: ServingGeneration | None,
    source: IndexSource,
    space: EmbeddingSpace,
    provider: EmbeddingProvider,
    cache: VectorCache | None,
    on_progress: Callable[[Progress], None],
) -> ServingGeneration:
    """The generation after ``current``, built from ``source`` in ``space``."""
    lexical = await lexical_for(current.lexical if current else None, source, source.chunks)
    vectors = await build_index(lexical.chunks, provider, space, cache, on_progress)
    number = (current.number if current else 0) + 1
    return ServingGeneration.built(
        number, kept_documents(lexical, source.documents, current), lexical, vectors
    )


async def generation_from_shadow(
    current: ServingGeneration | None, source: IndexSource, built: VectorIndex
) -> ServingGeneration:
    """The generation a migration's shadow (vectors of ``source`` in the target space) becomes."""
    lexical = await lexical_for(current.lexical if current else None, source, built.chunks)
    vectors = built
    if lexical.chunks is not built.chunks:  # equal chunks, another tuple: share one
        vectors = VectorIndex(lexical.chunks, built.matrix, built.space)
    number = (current.number if current else 0) + 1
    documents = kept_documents(lexical, source.documents, current)
    return ServingGeneration.built(number, documents, lexical, vectors)


async def generation_from_store(
    current: ServingGeneration | None, stored: StoredGeneration, source: IndexSource
) -> ServingGeneration:
    """A generation another replica built, read back from the store, ready to serve here."""
    with_documents = IndexSource(
        source.name, source.kind, stored.documents, pin_identifiers=source.pin_identifiers
    )
    lexical = await lexical_for(current.lexical if current else None, with_documents, stored.chunks)
    vectors = await asyncio.to_thread(VectorIndex, lexical.chunks, stored.vectors, stored.space)
    documents = kept_documents(lexical, stored.documents, current)
    return ServingGeneration.built(stored.number, documents, lexical, vectors)


async def store_generation(store: GenerationStore, name: str, generation: ServingGeneration) -> None:
    """Put the generation in the store and make it the current one there (before it is swapped in)."""
    vectors = generation.vectors
    assert vectors is not None and generation.space is not None
    await asyncio.to_thread(
        store.put_generation, name, generation.number, generation.space, generation.documents, vectors.matrix
    )
    await asyncio.to_thread(store.make_current, name, generation.number)


async def drop_old_generations(store: GenerationStore, name: str) -> None:
    """The swapped-out generation leaves the store too; failing to drop it costs only space."""
    try:
        await asyncio.to_thread(store.drop_generations, name, 1)
    except Exception as exc:
        event(log, "generation_drop_failed", level=logging.WARNING, index=name, error=str(exc))
