"""Flags every client command shares: where the server is, how to reach it safely, how long to wait."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any

from semsearch.console.exits import EPILOG

DEFAULT_TARGET = "127.0.0.1:50051"
TARGET_ENV = "SEMSEARCH_TARGET"
DEFAULT_TIMEOUT = 30.0
TOKEN_ENV = "SEMSEARCH_TOKEN"  # read when set, unless --token-env names another variable
TLS_CA_ENV = "SEMSEARCH_TLS_CA"


def client_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help_text: str,
    aliases: tuple[str, ...] = (),
) -> argparse.ArgumentParser:
    """A subcommand parser with --target, --timeout and the exit-code epilog."""
    parser = sub.add_parser(
        name,
        aliases=list(aliases),
        help=help_text,
        description=help_text[:1].upper() + help_text[1:] + ".",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--target",
        action=TargetsAction,
        default=os.environ.get(TARGET_ENV) or DEFAULT_TARGET,
        metavar="HOST:PORT",
        help=(
            f"server address (default: ${TARGET_ENV} or {DEFAULT_TARGET}); several replicas as IP "
            "addresses, comma-separated or repeated: calls go round-robin to those that report SERVING"
        ),
    )
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"deadline of each call; streams must start within it (default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--token-env",
        metavar="NAME",
        help=f"environment variable holding the server's bearer token (default: ${TOKEN_ENV}, sent when set)",
    )
    tls = parser.add_mutually_exclusive_group()
    tls.add_argument(
        "--tls-ca",
        default=os.environ.get(TLS_CA_ENV) or None,
        metavar="PATH",
        help=f"connect with TLS, trusting the PEM certificates in PATH (default: ${TLS_CA_ENV})",
    )
    tls.add_argument("--tls", action="store_true", help="connect with TLS, trusting the system's roots")
    return parser


class TargetsAction(argparse.Action):
    """``--target a,b`` or ``--target a --target b``: every address, comma-joined (what the client
    takes); the first one given replaces the default instead of adding to it."""

    GIVEN = "_targets_given"

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        given = [*getattr(namespace, self.GIVEN, []), str(values)]
        setattr(namespace, self.GIVEN, given)
        setattr(namespace, self.dest, ",".join(given))


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value
