"""An index's lexical index, built from its sources off the event loop, and only when they changed."""

from __future__ import annotations

import asyncio
import logging
import time

from semsearch.corpus import Chunk
from semsearch.index.lexical import LexicalIndex
from semsearch.lifecycle.sources import IndexSource
from semsearch.logs import event

log = logging.getLogger(__name__)


async def build_lexical(source: IndexSource, chunks: tuple[Chunk, ...]) -> LexicalIndex:
    """Tokenising and stemming every chunk takes seconds on a large corpus: a worker thread does it."""
    started = time.perf_counter()
    lexical = await asyncio.to_thread(LexicalIndex, chunks, source.kind, source.pin_identifiers)
    event(
        log,
        "lexical_index_built",
        index=source.name,
        chunks=len(chunks),
        seconds=round(time.perf_counter() - started, 3),
    )
    return lexical


async def lexical_for(
    current: LexicalIndex | None, source: IndexSource, chunks: tuple[Chunk, ...]
) -> LexicalIndex:
    """``current`` when it was built from chunks equal to ``chunks`` (of ``source``), else a new
    build. Callers build their vectors from the returned index's ``chunks``, so both share one tuple."""
    # Unchanged sources hold the very same chunk objects: usually an identity check.
    if current is not None and (current.chunks is chunks or current.chunks == chunks):
        return current
    return await build_lexical(source, chunks)
