"""Domain values → protobuf messages (the only place that knows both)."""

from __future__ import annotations

from google.protobuf import timestamp_pb2

from semsearch.api.v1 import admin_pb2, search_pb2, types_pb2
from semsearch.embeddings import EmbeddingSpace
from semsearch.lifecycle import IndexState, IndexStatus, StateChange
from semsearch.searcher import SearchResult

SNIPPET_CHARS = 240

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
    return types_pb2.EmbeddingSpace(
        model=value.model, dimensions=value.dimensions, fingerprint=value.fingerprint
    )


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
        message.progress.CopyFrom(
            types_pb2.RebuildProgress(
                chunks_done=status.progress.done,
                chunks_total=status.progress.total,
                chunks_cached=status.progress.cached,
            )
        )
    return message


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """Collapse whitespace and cut at a word boundary so a hit reads as one line."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0]
    return cut + " …"


def search_response(result: SearchResult) -> search_pb2.SearchResponse:
    return search_pb2.SearchResponse(
        hits=[
            search_pb2.SearchHit(
                index=hit.index,
                document_id=hit.scored.chunk.document_id,
                chunk_id=hit.scored.chunk.id,
                title=hit.scored.chunk.title,
                section=hit.scored.chunk.section,
                snippet=snippet(hit.scored.chunk.body),
                score=hit.scored.score,
                source=hit.scored.chunk.source,
                metadata=dict(hit.scored.chunk.metadata),
            )
            for hit in result.hits
        ],
        query_space=space(result.query_space),
        unavailable_indexes=[
            search_pb2.UnavailableIndex(
                index=u.index, state=state(u.state), reason=u.reason, message=u.message
            )
            for u in result.unavailable
        ],
    )


def watch_event(change: StateChange) -> admin_pb2.WatchIndexesResponse:
    return admin_pb2.WatchIndexesResponse(
        sequence=change.sequence,
        event=admin_pb2.IndexEvent(
            index=change.index,
            previous_state=state(change.previous),
            state=state(change.state),
            reason=change.reason,
            time=timestamp(change.time),
            current=index(change.status),
        ),
    )
