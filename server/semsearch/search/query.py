"""A search request in domain terms, its documented limits, and its validation."""

from __future__ import annotations

import enum
import math
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from semsearch.errors import InvalidArgument

DEFAULT_TOP_K = 10
MAX_TOP_K = 100
MAX_QUERY_CHARS = 2048
MAX_INDEX_NAMES = 64
MAX_FILTER_ENTRIES = 16
MAX_FILTER_CHARS = 256


class SearchMode(enum.Enum):
    """Which signals rank the hits (see the SearchMode enum of the contract)."""

    DENSE = "dense"  # by meaning: cosine similarity of embeddings
    LEXICAL = "lexical"  # by words: BM25, no embedding involved
    HYBRID = "hybrid"  # both, fused by relative score (see search.ranking)


@dataclass(frozen=True, slots=True)
class SearchQuery:
    text: str
    indexes: tuple[str, ...] = ()  # empty: every index
    top_k: int = DEFAULT_TOP_K
    min_score: float = -1.0
    metadata_filter: Mapping[str, str] = field(default_factory=dict)
    all_chunks: bool = False
    mode: SearchMode = SearchMode.HYBRID
    allow_degraded: bool = False  # an index that cannot serve dense search answers lexically


def validate_query(
    text: str,
    indexes: Sequence[str] = (),
    top_k: int = 0,
    min_score: float | None = None,
    metadata_filter: Mapping[str, str] | None = None,
    all_chunks: bool = False,
    mode: SearchMode = SearchMode.HYBRID,
    allow_degraded: bool = False,
) -> SearchQuery:
    """Check every field against the limits; raise InvalidArgument naming the first bad one."""
    stripped = text.strip()
    if not stripped:
        raise InvalidArgument("INVALID_QUERY", "query", "query must not be empty")
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidArgument(
            "INVALID_QUERY",
            "query",
            f"query has {len(text)} characters; the maximum is {MAX_QUERY_CHARS}",
            limit=str(MAX_QUERY_CHARS),
        )
    if _has_controls(text):
        raise InvalidArgument("INVALID_QUERY", "query", "query contains control characters")
    if top_k < 0 or top_k > MAX_TOP_K:
        raise InvalidArgument(
            "INVALID_TOP_K",
            "top_k",
            f"top_k must be between 0 (default {DEFAULT_TOP_K}) and {MAX_TOP_K}",
            limit=str(MAX_TOP_K),
        )
    if min_score is not None and (not math.isfinite(min_score) or not -1.0 <= min_score <= 1.0):
        raise InvalidArgument("INVALID_MIN_SCORE", "min_score", "min_score must be a number in [-1, 1]")
    if len(indexes) > MAX_INDEX_NAMES:
        raise InvalidArgument(
            "INVALID_INDEXES",
            "indexes",
            f"at most {MAX_INDEX_NAMES} index names per request",
            limit=str(MAX_INDEX_NAMES),
        )
    if any(not name.strip() for name in indexes):
        raise InvalidArgument("INVALID_INDEXES", "indexes", "index names must not be empty")
    filters = dict(metadata_filter or {})
    if len(filters) > MAX_FILTER_ENTRIES:
        raise InvalidArgument("INVALID_FILTER", "filter", f"at most {MAX_FILTER_ENTRIES} filter entries")
    for key, value in filters.items():
        if not key or len(key) > MAX_FILTER_CHARS or len(value) > MAX_FILTER_CHARS:
            raise InvalidArgument(
                "INVALID_FILTER",
                "filter",
                f"filter keys must be non-empty and keys and values at most {MAX_FILTER_CHARS} characters",
            )
        if _has_controls(key) or _has_controls(value):
            raise InvalidArgument(
                "INVALID_FILTER", "filter", "filter keys and values must not contain control characters"
            )
    return SearchQuery(
        text=stripped,
        indexes=tuple(dict.fromkeys(indexes)),  # duplicates searched once, order kept
        top_k=top_k or DEFAULT_TOP_K,
        min_score=-1.0 if min_score is None else min_score,
        metadata_filter=filters,
        all_chunks=all_chunks,
        mode=mode,
        allow_degraded=allow_degraded,
    )


def _has_controls(text: str) -> bool:
    """C0 and C1 controls and DEL (category Cc); tabs and line breaks are ordinary in pasted text."""
    return any(unicodedata.category(c) == "Cc" and c not in "\t\n\r" for c in text)
