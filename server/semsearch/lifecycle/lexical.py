"""An index's lexical index, built from its sources off the event loop, and only when they changed."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from semsearch.corpus import Chunk
from semsearch.index.lexical import LexicalIndex
from semsearch.logs import event

if TYPE_CHECKING:
    from semsearch.lifecycle.manager import IndexSource

log = logging.getLogger(__name__)


def _chunks(source: IndexSource) -> tuple[Chunk, ...]:
    return tuple(chunk for document in source.documents for chunk in document.chunks)


async def build_lexical(source: IndexSource) -> LexicalIndex:
    """Tokenising and stemming every chunk takes seconds on a large corpus: a worker thread does it."""
    started = time.perf_counter()
    chunks = _chunks(source)
    lexical = await asyncio.to_thread(LexicalIndex, chunks, source.kind, source.pin_identifiers)
    event(
        log,
        "lexical_index_built",
        index=source.name,
        chunks=len(chunks),
        seconds=round(time.perf_counter() - started, 3),
    )
    return lexical


async def lexical_for(current: LexicalIndex | None, source: IndexSource) -> LexicalIndex:
    """``current`` when it was built from exactly these sources, else a new build from them."""
    # Unchanged sources hold the very same chunk objects: the comparison is one identity check each.
    if current is not None and current.chunks == _chunks(source):
        return current
    return await build_lexical(source)
