"""Failures of the embedding provider, as the rest of the service sees them."""

from __future__ import annotations


class ProviderError(Exception):
    """The provider could not produce usable embeddings."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ProviderUnavailable(ProviderError):
    """Unreachable, timed out, overloaded or failing (5xx/429) after the allowed retries."""


class ProviderResponseError(ProviderError):
    """The provider answered, but not with what was asked (bad JSON, wrong count, NaN, mixed models)."""


class SpaceMoved(ProviderResponseError):
    """The provider answered from another space than the one being built: the build is abandoned."""
