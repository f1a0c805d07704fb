"""A small in-memory LRU of query embeddings for the provider's current space.

Entries are filed under the space the watcher last probed, and the whole cache is dropped whenever
that space changes. So a cached vector is only scored against indexes of the space it was filed
under, and a vector echoed during a swap behind an unchanged name cannot survive a later revert.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

from semsearch.embeddings.client import Embeddings
from semsearch.embeddings.space import EmbeddingSpace
from semsearch.logs import event

log = logging.getLogger(__name__)


class QueryCache:
    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self.hits = 0
        self.misses = 0
        self._space: EmbeddingSpace | None = None
        self._entries: OrderedDict[str, Embeddings] = OrderedDict()

    @property
    def entry_count(self) -> int:  # not __len__: an empty cache must stay truthy for `cache or default`
        return len(self._entries)

    def _follow(self, space: EmbeddingSpace) -> None:
        if space != self._space:
            if self._space is not None:
                event(
                    log,
                    "query_cache_cleared",
                    reason="provider space changed",
                    previous=self._space.describe(),
                    space=space.describe(),
                    dropped=len(self._entries),
                )
            self._entries.clear()
            self._space = space

    def clear(self, space: EmbeddingSpace, reason: str) -> None:
        """Drop every entry and file new ones under ``space`` (the query model changed on purpose)."""
        event(log, "query_cache_cleared", reason=reason, space=space.describe(), dropped=len(self._entries))
        self._entries.clear()
        self._space = space

    def get(self, space: EmbeddingSpace | None, text: str) -> Embeddings | None:
        if space is None or self.size == 0:
            return None
        self._follow(space)
        found = self._entries.get(text)
        if found is None:
            self.misses += 1
            return None
        self._entries.move_to_end(text)
        self.hits += 1
        return found

    def put(self, space: EmbeddingSpace | None, text: str, embedded: Embeddings) -> None:
        # Only a vector proven to come from the probed space's model may be filed under it.
        if space is None or self.size == 0 or not space.admits(embedded):
            return
        self._follow(space)
        self._entries[text] = embedded
        self._entries.move_to_end(text)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
