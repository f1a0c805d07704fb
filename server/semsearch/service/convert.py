"""Domain values → protobuf messages (the only place that knows both)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

from google.protobuf import timestamp_pb2

from semsearch.api.v1 import admin_pb2, search_pb2, types_pb2
from semsearch.corpus import Chunk
from semsearch.embeddings import EmbeddingSpace
from semsearch.errors import InvalidArgument
from semsearch.lifecycle import (
    IndexState,
    IndexStatus,
    MigrationPhase,
    MigrationStatus,
    Progress,
    StateChange,
)
from semsearch.search.hits import Hit
from semsearch.search.query import SearchMode
from semsearch.search.searcher import SearchResult

SNIPPET_CHARS = 240
# Hits are built from per-chunk templates (snippet, metadata map…), by far the costliest part of a
# response; this many of the most recently returned chunks keep theirs.
HIT_TEMPLATES = 8192

_STATES = {
    IndexState.READY: types_pb2.INDEX_STATE_READY,
    IndexState.PARKED: types_pb2.INDEX_STATE_PARKED,
    IndexState.REBUILDING: types_pb2.INDEX_STATE_REBUILDING,
}


def state(value: IndexState) -> types_pb2.IndexState.ValueType:
    return _STATES[value]


def timestamp(unix: float) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromNanoseconds(int(unix * 1e9))
    return ts


def space(value: EmbeddingSpace) -> types_pb2.EmbeddingSpace:
    """A space as every response names it: model, dimensions and fingerprint digests, no vectors."""
    message = _spaces.get(value)
    if message is None:
        message = _spaces.put(
            value,
            types_pb2.EmbeddingSpace(
                model=value.model,
                dimensions=value.dimensions,
                fingerprint_digest=value.fingerprint_digest,
                query_fingerprint_digest=value.query_fingerprint_digest,
            ),
        )
    return message  # shared: callers copy it into their message (CopyFrom, or a constructor field)


def space_with_vectors(value: EmbeddingSpace) -> types_pb2.EmbeddingSpace:
    """A space with its fingerprint vectors too: only GetEmbeddingSpace answers with them."""
    message = types_pb2.EmbeddingSpace(
        fingerprint=value.fingerprint, query_fingerprint=value.query_fingerprint
    )
    message.MergeFrom(space(value))
    return message


def index(status: IndexStatus) -> types_pb2.Index:
    message = types_pb2.Index(
        name=status.name,
        kind=status.kind,
        state=state(status.state),
        document_count=status.document_count,
        chunk_count=status.chunk_count,
        generation=status.generation,
        state_since=timestamp(status.state_since),
        last_error=status.last_error,
    )
    if status.space is not None:
        message.space.CopyFrom(space(status.space))
    if status.progress is not None:
        message.progress.CopyFrom(progress(status.progress))
    if status.shadow is not None:
        message.shadow.CopyFrom(
            types_pb2.ShadowBuild(
                space=space(status.shadow.space),
                generation=status.shadow.generation,
                progress=progress(status.shadow.progress),
                built=status.shadow.built,
            )
        )
    return message


def progress(value: Progress) -> types_pb2.RebuildProgress:
    message = types_pb2.RebuildProgress(
        chunks_done=value.done,
        chunks_total=value.total,
        chunks_cached=value.cached,
        chunks_per_second=value.rate,
    )
    if value.seconds_left is not None:
        message.seconds_left = value.seconds_left
    return message


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """Collapse whitespace and cut at a word boundary so a hit reads as one line."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0]
    return cut + " …"


K = TypeVar("K")
V = TypeVar("V")


class _IdentityCache(Generic[K, V]):
    """Values derived from immutable objects, keyed by identity (no hashing of large fields).

    Each entry holds its key object, so an id cannot be reused by another object while cached.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[int, tuple[K, V]] = OrderedDict()

    def get(self, key: K) -> V | None:
        entry = self._entries.get(id(key))
        if entry is None or entry[0] is not key:
            return None
        self._entries.move_to_end(id(key))
        return entry[1]

    def put(self, key: K, value: V) -> V:
        self._entries[id(key)] = (key, value)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return value


_hit_templates: _IdentityCache[Chunk, search_pb2.SearchHit] = _IdentityCache(HIT_TEMPLATES)
# Spaces are few and immutable; a status or a response names one again and again.
_spaces: _IdentityCache[EmbeddingSpace, types_pb2.EmbeddingSpace] = _IdentityCache(8)


def _hit_template(chunk: Chunk) -> search_pb2.SearchHit:
    """Everything of a hit that depends on the chunk alone (index and score are set per response)."""
    template = _hit_templates.get(chunk)
    if template is not None:
        return template
    return _hit_templates.put(
        chunk,
        search_pb2.SearchHit(
            document_id=chunk.document_id,
            chunk_id=chunk.id,
            title=chunk.title,
            section=chunk.section,
            snippet=snippet(chunk.body),
            source=chunk.source,
            metadata=dict(chunk.metadata),
        ),
    )


_MODES = {
    SearchMode.DENSE: search_pb2.SEARCH_MODE_DENSE,
    SearchMode.LEXICAL: search_pb2.SEARCH_MODE_LEXICAL,
    SearchMode.HYBRID: search_pb2.SEARCH_MODE_HYBRID,
}
_REQUESTED = {message: mode for mode, message in _MODES.items()}


def requested_mode(value: search_pb2.SearchMode.ValueType) -> SearchMode:
    """The request's mode; unset means HYBRID. proto3 enums are open, so any int32 may arrive: a
    value the contract does not name is refused rather than guessed at."""
    if value == search_pb2.SEARCH_MODE_UNSPECIFIED:
        return SearchMode.HYBRID
    mode = _REQUESTED.get(value)
    if mode is None:
        raise InvalidArgument(
            "INVALID_MODE",
            "mode",
            f"mode {value} is not a SearchMode: use SEARCH_MODE_DENSE, SEARCH_MODE_LEXICAL, "
            "SEARCH_MODE_HYBRID, or leave it unset",
        )
    return mode


def _signals(message: search_pb2.SearchHit, hit: Hit) -> None:
    """Which rankings found the hit, at which rank and score, and whether it was pinned."""
    if hit.dense_score is not None:
        message.dense_score = hit.dense_score
    if hit.lexical_score is not None:
        message.lexical_score = hit.lexical_score
    message.dense_rank = hit.dense_rank or 0
    message.lexical_rank = hit.lexical_rank or 0
    message.pinned = hit.pinned


def search_response(result: SearchResult) -> search_pb2.SearchResponse:
    response = search_pb2.SearchResponse(
        unavailable_indexes=[
            search_pb2.UnavailableIndex(
                index=u.index, state=state(u.state), reason=u.reason, message=u.message
            )
            for u in result.unavailable
        ],
        mode=_MODES[result.mode],
        degraded=bool(result.degraded),
        degraded_indexes=[
            search_pb2.DegradedIndex(index=d.index, state=state(d.state), reason=d.reason, message=d.message)
            for d in result.degraded
        ],
    )
    if result.query_space is not None:  # None: nothing was embedded (words only)
        response.query_space.CopyFrom(space(result.query_space))
    response.hits.extend([_hit_template(hit.scored.chunk) for hit in result.hits])  # copies
    for message, hit in zip(response.hits, result.hits, strict=True):
        message.index = hit.index
        message.score = hit.scored.score
        _signals(message, hit)
    return response


def watch_event(change: StateChange) -> admin_pb2.WatchIndexesResponse:
    return admin_pb2.WatchIndexesResponse(
        sequence=change.sequence,
        log_sequence=change.sequence,
        event=admin_pb2.IndexEvent(
            index=change.index,
            previous_state=state(change.previous),
            state=state(change.state),
            reason=change.reason,
            time=timestamp(change.time),
            current=index(change.status),
            migration=migration(change.migration) if change.migration is not None else None,
            step_remaining=change.step_remaining,
        ),
    )


_PHASES = {
    MigrationPhase.BUILDING: admin_pb2.MIGRATION_STATE_BUILDING,
    MigrationPhase.SUCCEEDED: admin_pb2.MIGRATION_STATE_SUCCEEDED,
    MigrationPhase.FAILED: admin_pb2.MIGRATION_STATE_FAILED,
    MigrationPhase.CANCELLED: admin_pb2.MIGRATION_STATE_CANCELLED,
    MigrationPhase.ABORTED: admin_pb2.MIGRATION_STATE_ABORTED,
}


def migration(status: MigrationStatus, vectors: bool = False) -> admin_pb2.Migration:
    """A migration; ``vectors``: its target space with the fingerprint vectors (GetEmbeddingSpace)."""
    message = admin_pb2.Migration(
        state=_PHASES[status.phase],
        source_model=status.source_model,
        target_model=status.target_model,
        target_space=(space_with_vectors if vectors else space)(status.target_space),
        reason=status.reason,
        progress=progress(status.progress),
        indexes_built=status.indexes_built,
        indexes_total=status.indexes_total,
        error=status.error,
        started_at=timestamp(status.started_at),
    )
    if status.finished_at is not None:
        message.finished_at.CopyFrom(timestamp(status.finished_at))
    return message
