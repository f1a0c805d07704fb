"""The client commands' channel: plaintext or TLS, and the bearer token on every call.

The token rides as ``authorization`` metadata added by an interceptor, so every call site (the
unary calls and the watch stream alike) carries it without knowing about it.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

import grpc

from semsearch.console.errors import CommandError
from semsearch.console.exits import EXIT_USAGE
from semsearch.console.options import TOKEN_ENV


class BearerToken(grpc.aio.UnaryUnaryClientInterceptor, grpc.aio.UnaryStreamClientInterceptor):
    """Adds ``authorization: Bearer <token>`` to every call."""

    def __init__(self, token: str) -> None:
        self._header = ("authorization", f"Bearer {token}")

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*(details.metadata or ()), self._header)
        return grpc.aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
        )

    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(self._details(client_call_details), request)

    async def intercept_unary_stream(
        self, continuation: Callable[..., Any], client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(self._details(client_call_details), request)


def read_token(args: argparse.Namespace) -> str | None:
    """The token from ``--token-env`` (must be set then) or from ``$SEMSEARCH_TOKEN`` (if set)."""
    name = args.token_env or TOKEN_ENV
    value = os.environ.get(name, "").strip()
    if not value and args.token_env:
        raise CommandError(EXIT_USAGE, f"--token-env: the environment variable {name} is unset or empty")
    return value or None


def tls_credentials(args: argparse.Namespace) -> grpc.ChannelCredentials | None:
    """TLS trusting ``--tls-ca`` (or the system roots with ``--tls``); None for plaintext."""
    if args.tls_ca:
        try:
            with open(args.tls_ca, "rb") as file:
                roots = file.read()
        except OSError as exc:
            why = exc.strerror or exc
            raise CommandError(EXIT_USAGE, f"--tls-ca: cannot read {args.tls_ca}: {why}") from None
        if b"-----BEGIN CERTIFICATE-----" not in roots:
            raise CommandError(EXIT_USAGE, f"--tls-ca: {args.tls_ca} holds no PEM certificate")
        return grpc.ssl_channel_credentials(root_certificates=roots)
    if args.tls:
        return grpc.ssl_channel_credentials()
    return None


def open_channel(args: argparse.Namespace) -> grpc.aio.Channel:
    """The channel to ``--target`` the flags ask for; a bad flag is a usage error (exit 2)."""
    token = read_token(args)
    interceptors = [BearerToken(token)] if token else None
    credentials = tls_credentials(args)
    if credentials is None:
        return grpc.aio.insecure_channel(args.target, interceptors=interceptors)
    return grpc.aio.secure_channel(args.target, credentials, interceptors=interceptors)
