"""The client subcommands, registered on the top-level parser and dispatched by name."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from semsearch.console import reindex, search, status, watch

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register search, status, indexes, watch and reindex on the top-level parser."""
    for module in (search, status, watch, reindex):
        for name in module.add_parser(sub):
            COMMANDS[name] = module.run


def run(args: argparse.Namespace) -> int:
    return COMMANDS[args.command](args)
