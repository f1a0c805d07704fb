"""``semsearch search QUERY``: one search, printed as a hits table (or the response as JSON)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from semsearch.console.options import client_parser

if TYPE_CHECKING:
    from semsearch.console.session import Session


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> list[str]:
    parser = client_parser(sub, "search", "search the running server")
    parser.add_argument("query", help="the question or text to search for")
    parser.add_argument(
        "--index",
        action="append",
        default=[],
        metavar="NAME",
        help="index to search (repeatable; default all)",
    )
    parser.add_argument(
        "--top-k", type=int, default=0, metavar="N", help="number of hits (0 = 10, at most 100)"
    )
    parser.add_argument("--min-score", type=float, metavar="X", help="leave out hits scoring below X")
    parser.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        type=_filter_entry,
        help="metadata filter; repeat for several entries (all must match)",
    )
    parser.add_argument("--all-chunks", action="store_true", help="do not collapse hits per document")
    parser.add_argument(
        "--mode",
        choices=["hybrid", "dense", "lexical"],
        help="rank by meaning (dense), by words (lexical) or both fused (hybrid, the default)",
    )
    parser.add_argument(
        "--allow-degraded",
        action="store_true",
        help="let an index that cannot serve dense search answer with lexical results",
    )
    parser.add_argument("--json", action="store_true", help="print the response as one JSON document")
    return ["search"]


def _filter_entry(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected FIELD=VALUE, got {item!r}")
    return key, value


def run(args: argparse.Namespace) -> int:
    from semsearch.console.session import run_command

    return run_command(_search, args)


async def _search(session: Session, args: argparse.Namespace) -> int:
    from semsearch.api.v1 import search_pb2
    from semsearch.console.contract import typed
    from semsearch.console.exits import EXIT_OK
    from semsearch.console.output import as_dict
    from semsearch.console.tables import degraded_lines, hits_view, unavailable_lines

    answer = await session.client.search(
        args.query,
        args.index,
        top_k=args.top_k,
        min_score=args.min_score,
        filter=dict(args.filter),
        all_chunks=args.all_chunks,
        mode=args.mode,
        allow_degraded=args.allow_degraded,
    )
    response = typed(answer, search_pb2.SearchResponse)
    if args.json:
        session.out.json(as_dict(response))
    else:
        session.out.show(hits_view(response, args.query, boxed=session.out.terminal))
    for line in unavailable_lines(response) + degraded_lines(response):
        session.out.note(line, style="yellow")
    return EXIT_OK
