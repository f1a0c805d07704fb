"""Reindex throughput: a cold reindex, a warm restart and memory, each against the provider's best case.

The provider is a real ``semsearch proxy`` process, fresh for every measurement, so no measurement
inherits another's warm caches (the hash model memoises word hashes). The tables are written by
``bench.reindex_report``.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import support
from bench.report import Section
from bench.support import ProviderRun, ServerRun
from semsearch.corpus import Chunk, Document, load_corpus
from semsearch.embeddings import EmbeddingCache, EmbeddingSpace
from semsearch.index import VectorIndex

TITLE = "Reindex: semsearch against the provider's best case"
HASH_MODEL = "hash-v1"
E5_MODEL = "e5-small"
BATCH_SIZE = 64
CONCURRENCY = 4
LOAD_REPEATS = 3
# Best case and cold reindex alternate this many times (fastest of each reported): the machine may be
# shared, and a second pass costs ~25 s with the hash model.
HASH_REPEATS = 2
# The first 37 EIPs by number hold ~300 chunks: about a minute per pass for e5-small on 2 cores.
E5_DOCUMENTS = 37
E5_STARTUP_TIMEOUT = 120.0
TIMEOUT = 600.0


@dataclass
class Stages:
    """Pipeline steps timed in isolation on the best case's vectors (no provider involved)."""

    store: float
    lookup: float
    index: float


@dataclass
class HashResult:
    documents: int
    chunks: int
    loads: list[float]
    bests: list[ProviderRun]
    colds: list[ServerRun]
    warm: ServerRun
    stages: Stages

    @property
    def best(self) -> ProviderRun:
        return min(self.bests, key=lambda r: r.seconds)

    @property
    def cold(self) -> ServerRun:
        return min(self.colds, key=lambda r: r.settled)


@dataclass
class E5Result:
    documents: int
    chunks: int
    best: ProviderRun
    cold: ServerRun


async def run() -> Section:
    from bench.reindex_report import body

    missing = support.corpora_missing("eips")
    if missing is not None:
        return Section(TITLE, missing)
    corpus = support.CORPORA / "eips"
    load_average = support.load_average()
    loads, documents = await _load(corpus)
    with tempfile.TemporaryDirectory(prefix="semsearch-bench-") as tmp:
        hashed = await _hash(corpus, documents, loads, Path(tmp))
        e5 = await _e5(corpus, documents, Path(tmp))
    return Section(TITLE, body(hashed, e5, load_average))


async def _load(corpus: Path) -> tuple[list[float], list[Document]]:
    loads, documents = [], []
    for _ in range(LOAD_REPEATS):
        started = time.perf_counter()
        documents = await asyncio.to_thread(load_corpus, "eip", corpus, {})
        loads.append(time.perf_counter() - started)
    return loads, documents


def _chunks(documents: Sequence[Document]) -> list[Chunk]:
    return [chunk for document in documents for chunk in document.chunks]


def _time_stages(chunks: Sequence[Chunk], run: ProviderRun, model: str, cache_path: Path) -> Stages:
    vectors = run.vectors
    space = EmbeddingSpace(model, vectors.shape[1], tuple(float(x) for x in vectors[0]))
    texts = [chunk.text for chunk in chunks]
    cache = EmbeddingCache(cache_path)
    try:
        started = time.perf_counter()
        cache.store(space, "document", texts, vectors)
        stored = time.perf_counter()
        cache.lookup(space, "document", texts)
        looked_up = time.perf_counter()
        VectorIndex(chunks, vectors, space)
        indexed = time.perf_counter()
    finally:
        cache.close()
    return Stages(stored - started, looked_up - stored, indexed - looked_up)


async def _hash(corpus: Path, documents: list[Document], loads: list[float], tmp: Path) -> HashResult:
    chunks = _chunks(documents)
    texts = [chunk.text for chunk in chunks]
    bests, colds = [], []
    warm: ServerRun | None = None
    for attempt in range(1, HASH_REPEATS + 1):
        async with support.fresh_proxy(HASH_MODEL) as proxy:
            bests.append(await support.provider_best_case(proxy, HASH_MODEL, texts, BATCH_SIZE, CONCURRENCY))
        async with support.fresh_proxy(HASH_MODEL) as proxy:
            cache = tmp / f"hash-{attempt}.sqlite"
            config = support.server_config(proxy.url, HASH_MODEL, corpus, cache, BATCH_SIZE, CONCURRENCY)
            colds.append(await support.timed_server(config, proxy, TIMEOUT))
            if attempt == HASH_REPEATS:  # a restart over the cache the cold run just filled
                warm = await support.timed_server(config, proxy, TIMEOUT)
    assert warm is not None  # HASH_REPEATS >= 1
    stages = await asyncio.to_thread(_time_stages, chunks, bests[0], HASH_MODEL, tmp / "stages.sqlite")
    return HashResult(len(documents), len(chunks), loads, bests, colds, warm, stages)


def _eip_number(document: Document) -> tuple[int, str]:
    """Sort key: the EIP number (``eip-<n>``); ids without one go last, by id."""
    suffix = document.id.rpartition("-")[2]
    return (int(suffix), "") if suffix.isdigit() else (sys.maxsize, document.id)


def _copy_sources(corpus: Path, documents: Sequence[Document], target: Path) -> None:
    target.mkdir()
    for document in documents:
        destination = target / document.source
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(corpus / document.source, destination)


async def _e5(corpus: Path, documents: list[Document], tmp: Path) -> E5Result:
    """The first ``E5_DOCUMENTS`` EIPs by number, copied to a folder of their own for the server."""
    chosen = sorted(documents, key=_eip_number)[:E5_DOCUMENTS]
    subset = tmp / "eips-subset"
    await asyncio.to_thread(_copy_sources, corpus, chosen, subset)
    loaded = await asyncio.to_thread(load_corpus, "eip", subset, {})
    texts = [chunk.text for chunk in _chunks(loaded)]
    async with support.fresh_proxy(E5_MODEL, E5_STARTUP_TIMEOUT) as proxy:
        best = await support.provider_best_case(proxy, E5_MODEL, texts, BATCH_SIZE, CONCURRENCY)
    async with support.fresh_proxy(E5_MODEL, E5_STARTUP_TIMEOUT) as proxy:
        config = support.server_config(
            proxy.url, E5_MODEL, subset, tmp / "e5.sqlite", BATCH_SIZE, CONCURRENCY
        )
        cold = await support.timed_server(config, proxy, TIMEOUT)
    return E5Result(len(loaded), len(texts), best, cold)
