"""The client subcommands, registered on the top-level parser and dispatched by name."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

from semsearch.console import reindex, search, status, watch

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register search, status, indexes, watch and reindex on the top-level parser."""
    for module in (search, status, watch, reindex):
        for name in module.add_parser(sub):
            COMMANDS[name] = module.run


def run(args: argparse.Namespace) -> int:
    # Before gRPC loads: its core would print its own TLS diagnostics on stderr, where every failure
    # already gets one line of ours. GRPC_VERBOSITY set by the user still wins.
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    return COMMANDS[args.command](args)
