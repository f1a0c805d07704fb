"""The metrics protocol the domain reports to (searches, provider requests, builds).

Its default does nothing; the Prometheus exporter that implements it lives with the running app
(``semsearch.app.prometheus``), the only module that imports prometheus_client.
"""

from semsearch.observability.metrics import (
    NO_METRICS,
    Metrics,
    ProviderErrorKind,
    RebuildOutcome,
    SearchOutcome,
    UnreadableRequest,
)

__all__ = [
    "NO_METRICS",
    "Metrics",
    "ProviderErrorKind",
    "RebuildOutcome",
    "SearchOutcome",
    "UnreadableRequest",
]
