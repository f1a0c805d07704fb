"""The facts the service reports for monitoring, as one small interface with a do-nothing default.

The domain and the service layer call these methods; they never see the exporter. A server
started without a metrics port (and any library use) gets :data:`NO_METRICS`, which costs a call.
Label values are the closed sets below, so every series stays low-cardinality.
"""

from __future__ import annotations

from typing import Literal

# How a Search call ended, for the call as a whole and for each index it covered. "partial" (answered,
# but some requested indexes could not serve), "invalid" and "not_found" only describe whole calls.
SearchOutcome = Literal[
    "ok",
    "partial",
    "invalid",
    "not_found",
    "not_ready",
    "space_changed",
    "provider_unavailable",
    "cancelled",
    "error",
]
# One build of an index's vectors (a full rebuild or a background refresh).
RebuildOutcome = Literal["ok", "failed", "space_moved", "cancelled"]
# Why one HTTP request to the embedding provider failed.
ProviderErrorKind = Literal[
    "timeout", "connection", "rate_limited", "server_error", "client_error", "bad_response"
]

# Why a call's request body was refused before its method ran: not a valid message, or over the
# size limit (see semsearch.service.decoding).
UnreadableRequest = Literal["malformed", "too_large"]


class Metrics:
    """Do-nothing sink; the Prometheus exporter overrides every method."""

    def search_finished(self, outcome: SearchOutcome, seconds: float) -> None:
        """A Search call ended (validation included)."""

    def index_searched(self, index: str, outcome: SearchOutcome, seconds: float) -> None:
        """Once per index a Search call covered; ``seconds`` is the whole search, as its client waited."""

    def provider_request(self, task: str, seconds: float, error: ProviderErrorKind | None) -> None:
        """One HTTP request to the provider ended (each retry is a request of its own)."""

    def provider_retry(self, task: str) -> None:
        """A failed provider request will be sent again after a backoff."""

    def rebuild_finished(self, outcome: RebuildOutcome, seconds: float) -> None:
        """Building one index's vectors ended."""

    def chunk_cache_lookup(self, hits: int, misses: int) -> None:
        """A build looked its chunks up in the durable cache: ``misses`` go to the provider."""

    def watch_resynchronised(self) -> None:
        """A WatchIndexes stream fell behind and was sent a fresh snapshot instead of its backlog."""

    def request_unreadable(self, method: str, kind: UnreadableRequest) -> None:
        """A call to ``method`` (its short name, e.g. Search) was refused for its request body."""


NO_METRICS = Metrics()
