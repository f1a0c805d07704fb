"""Run one client command: open the channel, turn failures into a message and an exit code."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc

from semsearch.api.v1 import admin_pb2_grpc, search_pb2_grpc
from semsearch.console.errors import CommandError, from_rpc_error
from semsearch.console.exits import EXIT_INTERRUPTED
from semsearch.console.output import Output


@dataclass
class Session:
    target: str
    timeout: float
    channel: grpc.aio.Channel
    admin: admin_pb2_grpc.AdminServiceAsyncStub  # the .pyi's type of a stub on an aio channel
    search: search_pb2_grpc.SearchServiceAsyncStub
    out: Output


Command = Callable[[Session, argparse.Namespace], Awaitable[int]]


async def _run(command: Command, args: argparse.Namespace, out: Output) -> int:
    from semsearch.console.channel import open_channel

    async with open_channel(args) as channel:
        session = Session(
            args.target,
            args.timeout,
            channel,
            admin_pb2_grpc.AdminServiceStub(channel),
            search_pb2_grpc.SearchServiceStub(channel),
            out,
        )
        try:
            return await command(session, args)
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc, args.target, args.timeout) from None


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
