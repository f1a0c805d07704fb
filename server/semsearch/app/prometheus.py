"""The Prometheus exporter: the one module that imports prometheus_client.

Each running app gets its own CollectorRegistry, so several servers in one process (tests, embedding
hosts) never share or clash on series. Events the lifecycle already keeps (states, chunk counts,
generations, query-cache counters, watcher ticks, subscribers) are read from the manager at scrape
time by :class:`LifecycleCollector` — always consistent with GetIndex, nothing to keep in step.
Only what happens in passing (searches, provider requests, builds) is counted as it happens.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import get_args

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder

from semsearch.lifecycle import IndexManager, Watcher
from semsearch.lifecycle.state import IndexState
from semsearch.observability.metrics import (
    Metrics,
    ProviderErrorKind,
    RebuildOutcome,
    SearchOutcome,
    UnreadableRequest,
)

TASKS = ("query", "document")  # the provider's input_type; space probes are "document" requests
# A search answers in milliseconds; a provider batch may take up to its timeout; a rebuild, minutes.
SEARCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
PROVIDER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
REBUILD_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


class PrometheusMetrics(Metrics):
    """Records every reported fact in a registry of its own and renders it for a scrape."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self._search = Histogram(
            "semsearch_search_duration_seconds",
            "Search calls by outcome, validation included.",
            ["outcome"],
            registry=r,
            buckets=SEARCH_BUCKETS,
        )
        self._index_search = Histogram(
            "semsearch_search_index_duration_seconds",
            "Search calls by each index they covered and how that index fared; a search over n indexes "
            "is counted once in each, with the whole search's latency.",
            ["index", "outcome"],
            registry=r,
            buckets=SEARCH_BUCKETS,
        )
        self._provider = Histogram(
            "semsearch_provider_request_duration_seconds",
            "HTTP requests to the embedding provider (each retry counts), by task and outcome.",
            ["task", "outcome"],
            registry=r,
            buckets=PROVIDER_BUCKETS,
        )
        self._provider_errors = Counter(
            "semsearch_provider_errors_total",
            "Failed embedding provider requests by kind.",
            ["task", "kind"],
            registry=r,
        )
        self._provider_retries = Counter(
            "semsearch_provider_retries_total",
            "Provider requests sent again after a backoff.",
            ["task"],
            registry=r,
        )
        self._rebuild = Histogram(
            "semsearch_index_rebuild_duration_seconds",
            "Builds of an index's vectors (full rebuilds and background refreshes) by outcome.",
            ["outcome"],
            registry=r,
            buckets=REBUILD_BUCKETS,
        )
        self._chunk_cache = Counter(
            "semsearch_chunk_cache_lookups_total",
            "Chunks a build looked up in the durable embedding cache; misses are sent to the provider.",
            ["result"],
            registry=r,
        )
        self._resyncs = Counter(
            "semsearch_watch_resyncs_total",
            "WatchIndexes streams that fell behind and were sent a fresh snapshot.",
            registry=r,
        )
        self._unreadable = Counter(
            "semsearch_unreadable_requests_total",
            "Calls refused for their request body before the method ran, by method and kind: not a "
            "valid protobuf message (malformed) or over the request size limit (too_large).",
            ["method", "kind"],
            registry=r,
        )
        # Known label values start at zero, so rate() and absence alerts work from the first scrape.
        for task in TASKS:
            self._provider_retries.labels(task)
            for kind in get_args(ProviderErrorKind):
                self._provider_errors.labels(task, kind)
        for result in ("hit", "miss"):
            self._chunk_cache.labels(result)

    def watch(self, manager: IndexManager, watcher: Watcher | None = None) -> None:
        """Export the lifecycle's own state, read at every scrape."""
        self.registry.register(LifecycleCollector(manager, watcher))

    def render(self, accept: str) -> tuple[bytes, str]:
        """The exposition for a scrape and its content type (OpenMetrics when the scraper asks for it)."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type

    def search_finished(self, outcome: SearchOutcome, seconds: float) -> None:
        self._search.labels(outcome).observe(seconds)

    def index_searched(self, index: str, outcome: SearchOutcome, seconds: float) -> None:
        self._index_search.labels(index, outcome).observe(seconds)

    def provider_request(self, task: str, seconds: float, error: ProviderErrorKind | None) -> None:
        self._provider.labels(task, "ok" if error is None else "error").observe(seconds)
        if error is not None:
            self._provider_errors.labels(task, error).inc()

    def provider_retry(self, task: str) -> None:
        self._provider_retries.labels(task).inc()

    def rebuild_finished(self, outcome: RebuildOutcome, seconds: float) -> None:
        self._rebuild.labels(outcome).observe(seconds)

    def chunk_cache_lookup(self, hits: int, misses: int) -> None:
        self._chunk_cache.labels("hit").inc(hits)
        self._chunk_cache.labels("miss").inc(misses)

    def watch_resynchronised(self) -> None:
        self._resyncs.inc()

    def request_unreadable(self, method: str, kind: UnreadableRequest) -> None:
        self._unreadable.labels(method, kind).inc()


class LifecycleCollector:
    """Reads the manager at scrape time. The scrape runs on the event loop that owns that state
    (see app.metrics_http), so it sees one consistent moment."""

    def __init__(self, manager: IndexManager, watcher: Watcher | None) -> None:
        self.manager = manager
        self.watcher = watcher

    def collect(self) -> Iterator[Metric]:
        yield from self._indexes()
        yield from self._spaces()
        yield from self._query_cache()
        if self.watcher is not None:
            yield from self._watcher(self.watcher)
        watchers = GaugeMetricFamily("semsearch_watch_subscribers", "Open WatchIndexes streams.")
        watchers.add_metric([], self.manager.bus.subscribers("watch"))
        yield watchers

    def _indexes(self) -> Iterator[Metric]:
        state = GaugeMetricFamily(
            "semsearch_index_state",
            "1 for the state each index is in, 0 for the others.",
            labels=["index", "state"],
        )
        chunks = GaugeMetricFamily(
            "semsearch_index_chunks", "Chunks of each index's retained sources.", labels=["index"]
        )
        documents = GaugeMetricFamily(
            "semsearch_index_documents", "Documents of each index's retained sources.", labels=["index"]
        )
        generation = GaugeMetricFamily(
            "semsearch_index_generation", "Successful builds swapped in since start-up.", labels=["index"]
        )
        since = GaugeMetricFamily(
            "semsearch_index_state_changed_timestamp_seconds",
            "Unix time each index entered its current state.",
            labels=["index"],
        )
        failing = GaugeMetricFamily(
            "semsearch_index_failing",
            "1 while an index has a last_error (a failed build or unreadable sources).",
            labels=["index"],
        )
        for status in self.manager.statuses():
            for value in IndexState:
                state.add_metric([status.name, value.value], 1.0 if status.state is value else 0.0)
            chunks.add_metric([status.name], status.chunk_count)
            documents.add_metric([status.name], status.document_count)
            generation.add_metric([status.name], status.generation)
            since.add_metric([status.name], status.state_since)
            failing.add_metric([status.name], 1.0 if status.last_error else 0.0)
        yield from (state, chunks, documents, generation, since, failing)

    def _spaces(self) -> Iterator[Metric]:
        manager = self.manager
        info = GaugeMetricFamily(
            "semsearch_embedding_space_info",
            "The provider's space at the last probe and the space every index was last built in.",
            labels=["role", "model", "dimensions"],
        )
        for role, space in (("provider", manager.provider_space), ("built", manager.built_space)):
            if space is not None:
                info.add_metric([role, space.model, str(space.dimensions)], 1.0)
        yield info
        if manager.probed_at is not None:
            probed = GaugeMetricFamily(
                "semsearch_provider_probe_timestamp_seconds", "Unix time of the last successful space probe."
            )
            probed.add_metric([], manager.probed_at)
            yield probed

    def _query_cache(self) -> Iterator[Metric]:
        cache = self.manager.query_cache
        lookups = CounterMetricFamily(
            "semsearch_query_cache_lookups",
            "Query embeddings looked up in the in-memory cache; misses are sent to the provider.",
            labels=["result"],
        )
        lookups.add_metric(["hit"], cache.hits)
        lookups.add_metric(["miss"], cache.misses)
        entries = GaugeMetricFamily("semsearch_query_cache_entries", "Query embeddings held in memory.")
        entries.add_metric([], cache.entry_count)
        yield from (lookups, entries)

    def _watcher(self, watcher: Watcher) -> Iterator[Metric]:
        ticks = CounterMetricFamily(
            "semsearch_watcher_ticks", "Watcher ticks (a probe, then what it calls for)."
        )
        ticks.add_metric([], watcher.ticks)
        errors = CounterMetricFamily("semsearch_watcher_errors", "Unexpected errors the watcher survived.")
        errors.add_metric([], watcher.errors)
        failures = GaugeMetricFamily(
            "semsearch_watcher_consecutive_failures", "Failed ticks in a row; drives the backoff."
        )
        failures.add_metric([], watcher.failures)
        incomplete = GaugeMetricFamily(
            "semsearch_reindex_incomplete", "1 while the last full reindex did not rebuild every index."
        )
        incomplete.add_metric([], 1.0 if watcher.incomplete else 0.0)
        yield from (ticks, errors, failures, incomplete)
