"""Channel defaults: keepalive, transparent retries of the read-only calls, reconnect backoff,
round-robin with health checking over several replicas; TLS and the bearer token."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import grpc

from semsearch_client.targets import Targets, channel_target
from semsearch_client.version import __version__

# Seconds a unary call may take unless the client or the call says otherwise.
DEFAULT_TIMEOUT = 30.0

# Calls that change nothing on the server, so gRPC may repeat them on its own. Reindex is left out:
# it is control, not a read; a repeat schedules another rebuild (provider cost for every uncached
# chunk), so whether to repeat it is the caller's decision. WatchIndexes is a stream; the watch
# helper resubscribes itself.
RETRIED_METHODS = (
    ("semsearch.v1.SearchService", "Search"),
    ("semsearch.v1.AdminService", "ListIndexes"),
    ("semsearch.v1.AdminService", "GetIndex"),
    ("semsearch.v1.AdminService", "GetEmbeddingSpace"),
)

# gRPC retries UNAVAILABLE only while no response has started, so a retried call never duplicates
# work the server already answered. It cannot tell a dropped connection from semsearch's own
# refusals (also UNAVAILABLE): those are repeated a few times too, quickly, before surfacing.
RETRY_POLICY = {
    "maxAttempts": 4,
    "initialBackoff": "0.1s",
    "maxBackoff": "1s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"],
}

# Several replicas: calls go round-robin to the ones whose standard health service says SERVING for
# "" (every semsearch server does while it serves; NOT_SERVING while a replica loads or drains).
BALANCING = {"loadBalancingConfig": [{"round_robin": {}}], "healthCheckConfig": {"serviceName": ""}}


def service_config(balanced: bool = False) -> str:
    """The channel's service config: the retry policy, plus round-robin and health checking when
    ``balanced``."""
    config: dict[str, Any] = dict(BALANCING) if balanced else {}
    config["methodConfig"] = [
        {
            "name": [{"service": service, "method": method} for service, method in RETRIED_METHODS],
            "retryPolicy": RETRY_POLICY,
        }
    ]
    return json.dumps(config, separators=(",", ":"))


SERVICE_CONFIG = service_config()
BALANCED_SERVICE_CONFIG = service_config(balanced=True)

DEFAULT_OPTIONS: dict[str, Any] = {
    "grpc.enable_retries": 1,
    "grpc.service_config": SERVICE_CONFIG,
    # A gRPC server that keeps its defaults refuses pings more often than every 5 minutes on a
    # connection that sends no data (a quiet watch stream) and answers too many with GOAWAY, so
    # 6 minutes is the fastest safe dead-peer check against an untuned server.
    "grpc.keepalive_time_ms": 360_000,
    "grpc.keepalive_timeout_ms": 20_000,
    "grpc.keepalive_permit_without_calls": 0,
    "grpc.http2.max_pings_without_data": 0,
    # After a server restart, reconnect within seconds rather than the default two-minute ceiling.
    "grpc.initial_reconnect_backoff_ms": 200,
    "grpc.max_reconnect_backoff_ms": 5_000,
    "grpc.primary_user_agent": f"semsearch-client-python/{__version__}",
}


PEM_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"


def load_root_certificates(path: str | os.PathLike[str]) -> bytes:
    """The PEM certificates in the file at ``path``, for ``root_certificates=``.

    Raises ``OSError`` when the file cannot be read and ``ValueError`` when it holds no PEM
    certificate (a DER file, a private key, the wrong file): checked here, because gRPC would take
    such roots and fail every TLS handshake instead, far from the cause.
    """
    with open(path, "rb") as file:
        roots = file.read()
    if PEM_CERTIFICATE not in roots:
        raise ValueError(f"{os.fspath(path)} holds no PEM certificate")
    return roots


def tls_credentials(root_certificates: bytes | None, secure: bool) -> grpc.ChannelCredentials | None:
    """TLS trusting ``root_certificates`` (PEM), or the system's roots with ``secure``; None: plaintext.

    ``ValueError`` when ``root_certificates`` holds no PEM certificate.
    """
    if root_certificates is not None:
        if PEM_CERTIFICATE not in root_certificates:
            raise ValueError("root_certificates holds no PEM certificate")
        return grpc.ssl_channel_credentials(root_certificates=root_certificates)
    return grpc.ssl_channel_credentials() if secure else None


def token_metadata(token: str | None) -> tuple[tuple[str, str], ...]:
    """The ``authorization`` metadata every call carries when the client has a token."""
    if token is None:
        return ()
    token = token.strip()
    if not token or any(not 0x21 <= ord(c) <= 0x7E for c in token):
        # Checked here: gRPC would reject such metadata on every call, far from the cause.
        raise ValueError("token must be a non-empty string of visible ASCII characters")
    return (("authorization", f"Bearer {token}"),)


def channel_options(
    overrides: Sequence[tuple[str, Any]] = (), *, balanced: bool = False, authority: str | None = None
) -> list[tuple[str, Any]]:
    """The default options with ``overrides`` applied (an override replaces the default of its key).

    ``balanced`` adds round-robin over the healthy addresses; ``authority`` is the name presented
    to the servers (and checked against their TLS certificates) for a target of several addresses.
    """
    merged = dict(DEFAULT_OPTIONS)
    if balanced:
        merged["grpc.service_config"] = BALANCED_SERVICE_CONFIG
    if authority is not None:
        merged["grpc.default_authority"] = authority
    merged.update(overrides)
    return list(merged.items())


def channel_settings(
    targets: Targets, balance: bool | None, overrides: Sequence[tuple[str, Any]]
) -> tuple[str, list[tuple[str, Any]]]:
    """The gRPC target and channel options for ``targets``: several addresses are balanced unless
    ``balance`` is False; one address is balanced only when ``balance`` is True (a DNS name that
    resolves to every replica). ``ValueError`` for targets that cannot be combined."""
    resolved = channel_target(targets)
    balanced = resolved.several if balance is None else balance
    return resolved.target, channel_options(overrides, balanced=balanced, authority=resolved.authority)
