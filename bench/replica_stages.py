"""The parts of a generation load, timed in isolation on the generation the replicas serve, and the
memory a served generation holds besides its vectors (for the scaling arithmetic of the guide).

Blocking: run these in a worker thread.
"""

from __future__ import annotations

import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from semsearch.corpus import load_corpus
from semsearch.embeddings import EmbeddingCache, EmbeddingSpace
from semsearch.index import VectorIndex
from semsearch.index.lexical import LexicalIndex
from semsearch.store.postgres import PostgresStore

SCRATCH_INDEX = "bench-scratch"  # a name no replica serves: putting it disturbs nothing


@dataclass(frozen=True)
class Timed:
    """Median wall seconds of a step, and the median CPU seconds this thread spent in it (the
    figure other load on the machine does not inflate; PostgreSQL's own work is not in it)."""

    wall: float
    cpu: float


@dataclass
class Stages:
    """Each step, over ``repeats`` runs, for one generation of ``chunks`` chunks."""

    chunks: int
    dimensions: int
    repeats: int
    pg_read: Timed  # PostgresStore.read_generation: chunks, documents and vectors back
    pg_put: Timed  # PostgresStore.put_generation (binary COPY): what the indexer adds per build
    pg_cache_lookup: Timed  # the shared embedding cache, every chunk's vector
    sqlite_cache_lookup: Timed  # the local backend's cache, every chunk's vector
    sqlite_hits: int
    lexical: Timed  # LexicalIndex (BM25) of every chunk
    vector: Timed  # VectorIndex over the matrix


def _median(run: Callable[[], object], repeats: int) -> Timed:
    walls, cpus = [], []
    for _ in range(repeats):
        started, cpu = time.perf_counter(), time.thread_time()
        run()
        walls.append(time.perf_counter() - started)
        cpus.append(time.thread_time() - cpu)
    return Timed(statistics.median(walls), statistics.median(cpus))


def time_stages(dsn: str, index: str, generation: int, sqlite_cache: Path, repeats: int) -> Stages:
    store = PostgresStore.open(dsn, pool_size=2)
    try:
        stored = store.read_generation(index, generation)
        texts = [chunk.text for chunk in stored.chunks]
        pg_read = _median(lambda: store.read_generation(index, generation), repeats)
        pg_put = _median(
            lambda: store.put_generation(SCRATCH_INDEX, 1, stored.space, stored.documents, stored.vectors),
            repeats,
        )
        store.drop_generations(SCRATCH_INDEX, keep=0)
        pg_lookup = _median(lambda: store.cache.lookup(stored.space, "document", texts), repeats)
    finally:
        store.close()
    cache = EmbeddingCache(sqlite_cache)
    try:
        hits = sum(vector is not None for vector in cache.lookup(stored.space, "document", texts))
        sqlite_lookup = _median(lambda: cache.lookup(stored.space, "document", texts), repeats)
    finally:
        cache.close()
    lexical = _median(lambda: LexicalIndex(stored.chunks, "eip"), repeats)
    vector = _median(lambda: VectorIndex(stored.chunks, stored.vectors, stored.space), repeats)
    return Stages(
        len(texts),
        stored.space.dimensions,
        repeats,
        pg_read,
        pg_put,
        pg_lookup,
        sqlite_lookup,
        hits,
        lexical,
        vector,
    )


@dataclass
class Footprint:
    """Bytes a served generation holds besides its matrix, traced by ``tracemalloc`` as it is built."""

    chunks: int
    text_characters: int  # the chunks' text and body, as characters
    documents: int  # the documents and their chunks (text, body, metadata) as loaded
    lexical: int  # the BM25 index, the identifiers and the metadata postings
    vector_extras: int  # the VectorIndex around its matrix (document ids, metadata postings)

    def per_chunk(self, part: int) -> float:
        return part / self.chunks if self.chunks else 0.0


def footprint(corpus: Path, kind: str, dimensions: int) -> Footprint:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        documents = load_corpus(kind, corpus, {})
        loaded = tracemalloc.get_traced_memory()[0]
        chunks = tuple(chunk for document in documents for chunk in document.chunks)
        lexical = LexicalIndex(chunks, kind)
        indexed = tracemalloc.get_traced_memory()[0]
        matrix = np.zeros((len(chunks), dimensions), dtype=np.float32)
        space = EmbeddingSpace("footprint", dimensions)
        matrixed = tracemalloc.get_traced_memory()[0]
        vectors = VectorIndex(chunks, matrix, space)
        vectored = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del lexical, vectors
    return Footprint(
        len(chunks),
        sum(len(chunk.text) + len(chunk.body) for chunk in chunks),
        loaded - before,
        indexed - loaded,
        vectored - matrixed,
    )
