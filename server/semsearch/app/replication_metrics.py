"""Prometheus series of a replica in a deployment on a shared store, read at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from semsearch.app.replicated import Replication


class ReplicationCollector:
    def __init__(self, replication: Replication) -> None:
        self.replication = replication

    def collect(self) -> Iterator[Metric]:
        r = self.replication
        lease = GaugeMetricFamily(
            "semsearch_indexer_lease", "1 while this replica holds the indexer lease (runs the watcher)."
        )
        lease.add_metric([], 1.0 if r.role.leading else 0.0)
        yield lease
        terms = CounterMetricFamily("semsearch_indexer_lease_acquired", "Times this replica took the lease.")
        terms.add_metric([], r.role.terms)
        yield terms
        position = GaugeMetricFamily(
            "semsearch_replication_log_sequence", "The last position of the shared log this replica applied."
        )
        position.add_metric([], r.tail.sequence)
        yield position
        lag = GaugeMetricFamily(
            "semsearch_replication_lag_events",
            "Changes in the shared log this replica has not applied yet (as of its last heartbeat).",
        )
        lag.add_metric([], r.heartbeat.lag)
        yield lag
        loads = CounterMetricFamily(
            "semsearch_generation_loads", "Generations read back from the store and swapped in here."
        )
        loads.add_metric([], r.tail.loads)
        yield loads
        if r.tail.last_load_seconds is not None:
            load = GaugeMetricFamily(
                "semsearch_generation_load_seconds", "How long the last generation load took (read + swap)."
            )
            load.add_metric([], r.tail.last_load_seconds)
            yield load
