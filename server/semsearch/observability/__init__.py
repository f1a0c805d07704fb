"""Observability: the metrics interface the domain reports to, and its Prometheus exporter.

Only ``semsearch.observability.prometheus`` imports prometheus_client; everything else talks to
:class:`Metrics`, whose default does nothing.
"""

from semsearch.observability.metrics import (
    NO_METRICS,
    Metrics,
    ProviderErrorKind,
    RebuildOutcome,
    SearchOutcome,
)

__all__ = [
    "NO_METRICS",
    "Metrics",
    "ProviderErrorKind",
    "RebuildOutcome",
    "SearchOutcome",
]
