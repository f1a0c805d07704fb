"""Domain errors a search or admin call can end in; the service layer maps each to a gRPC status."""

from __future__ import annotations


class SemsearchError(Exception):
    """Base of every error with a stable machine-readable reason."""

    reason = "SEMSEARCH_ERROR"

    def __init__(self, message: str, **metadata: str) -> None:
        super().__init__(message)
        self.message = message
        self.metadata = metadata


class InvalidArgument(SemsearchError):
    """The request is malformed; nothing was changed. ``field`` names the request field."""

    def __init__(self, reason: str, field: str, message: str, **metadata: str) -> None:
        super().__init__(message, field=field, **metadata)
        self.reason = reason
        self.field = field


class IndexNotFound(SemsearchError):
    reason = "INDEX_NOT_FOUND"


class FailedPrecondition(SemsearchError):
    """The request is well formed but the service is not in a state to carry it out; retrying
    as is will not help until that state changes (``reason`` says which state)."""

    def __init__(self, reason: str, message: str, **metadata: str) -> None:
        super().__init__(message, **metadata)
        self.reason = reason


class Unavailable(SemsearchError):
    """A retry later may succeed; ``retry_after`` is a hint in seconds."""

    def __init__(self, message: str, retry_after: float = 1.0, **metadata: str) -> None:
        super().__init__(message, **metadata)
        self.retry_after = retry_after


class IndexNotReady(Unavailable):
    reason = "INDEX_NOT_READY"


class EmbeddingSpaceChanged(Unavailable):
    reason = "EMBEDDING_SPACE_CHANGED"


class EmbeddingProviderUnavailable(Unavailable):
    reason = "EMBEDDING_PROVIDER_UNAVAILABLE"
