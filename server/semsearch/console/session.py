"""Run one client command: open the client the flags ask for, turn failures into a message and an
exit code.

Channel options, retries, keepalive, the bearer token and TLS are the Python client's
(``semsearch_client``); this module only turns the flags into its arguments, and a bad flag into a
usage error (exit 2).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from semsearch.console.errors import CommandError, command_error
from semsearch.console.exits import EXIT_INTERRUPTED, EXIT_USAGE
from semsearch.console.options import TOKEN_ENV
from semsearch.console.output import Output
from semsearch_client import AsyncSemsearchClient, SemsearchError, load_root_certificates
from semsearch_client.targets import channel_target


@dataclass
class Session:
    target: str
    timeout: float
    client: AsyncSemsearchClient
    out: Output


Command = Callable[[Session, argparse.Namespace], Awaitable[int]]


def read_token(args: argparse.Namespace) -> str | None:
    """The token from ``--token-env`` (must be set then) or from ``$SEMSEARCH_TOKEN`` (if set)."""
    name = args.token_env or TOKEN_ENV
    value = os.environ.get(name, "").strip()
    if not value and args.token_env:
        raise CommandError(EXIT_USAGE, f"--token-env: the environment variable {name} is unset or empty")
    return value or None


def read_tls_ca(args: argparse.Namespace) -> bytes | None:
    """The PEM certificates of ``--tls-ca``; None without the flag."""
    if not args.tls_ca:
        return None
    try:
        return load_root_certificates(args.tls_ca)
    except OSError as exc:
        why = exc.strerror or exc
        raise CommandError(EXIT_USAGE, f"--tls-ca: cannot read {args.tls_ca}: {why}") from None
    except ValueError as exc:
        raise CommandError(EXIT_USAGE, f"--tls-ca: {exc}") from None


def check_target(args: argparse.Namespace) -> None:
    """Several addresses must be IP literals of one family, with a port each."""
    try:
        channel_target(args.target)
    except ValueError as exc:
        raise CommandError(EXIT_USAGE, f"--target: {exc}") from None


def open_client(args: argparse.Namespace) -> AsyncSemsearchClient:
    """The client to ``--target`` (one server, or several replicas balanced round-robin) with
    ``--timeout``, the bearer token and TLS the flags ask for."""
    check_target(args)
    token, roots = read_token(args), read_tls_ca(args)
    try:
        return AsyncSemsearchClient(
            args.target, timeout=args.timeout, token=token, root_certificates=roots, secure=args.tls
        )
    except ValueError as exc:  # only the token can be refused here: the target and roots were checked
        name = args.token_env or TOKEN_ENV
        raise CommandError(EXIT_USAGE, f"the bearer token in ${name}: {exc}") from None


async def _run(command: Command, args: argparse.Namespace, out: Output) -> int:
    async with open_client(args) as client:
        session = Session(args.target, args.timeout, client, out)
        try:
            return await command(session, args)
        except SemsearchError as exc:
            raise command_error(exc, args.target, args.timeout) from None


def run_command(
    command: Command, args: argparse.Namespace, interrupted: int = EXIT_INTERRUPTED, out: Output | None = None
) -> int:
    """Run ``command`` to its exit code; Ctrl-C returns ``interrupted`` without a traceback."""
    out = out or Output()
    try:
        return asyncio.run(_run(command, args, out))
    except CommandError as exc:
        out.note(f"semsearch: {exc.message}")
        return exc.exit_code
    except KeyboardInterrupt:
        return interrupted
    except BrokenPipeError:
        # The reader went away (`semsearch search ... | head -1`): that is not an error of ours.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
