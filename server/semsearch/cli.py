"""The ``semsearch`` command: serve, proxy, search, indexes.

Exit codes: 0 success, 1 the server refused the call, 2 bad usage or config, 3 server unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DEFAULT_TARGET = "127.0.0.1:50051"
EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="semsearch", description="Semantic search over gRPC.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the gRPC search server")
    serve.add_argument("--config", type=Path, default=Path("config/default.toml"), help="TOML config file")
    serve.add_argument("--listen", help="host:port to listen on (overrides [server].listen)")
    serve.add_argument("--embeddings-url", help="OpenAI-compatible base URL (overrides [embeddings].url)")
    serve.add_argument("--model", help="model name sent to the provider (overrides [embeddings].model)")
    serve.add_argument("--log-format", choices=["text", "json"], help="overrides [server].log_format")
    serve.add_argument("--log-level", help="overrides [server].log_level")
    serve.add_argument("--metrics-listen", help="host:port of /metrics (overrides [metrics].listen)")

    proxy = sub.add_parser("proxy", help="run the bundled OpenAI-compatible embedding provider")
    proxy.add_argument("--host", default="127.0.0.1")
    proxy.add_argument("--port", type=int, default=8089, help="0 picks a free port")
    proxy.add_argument("--model", default="e5-small", help="e5-small or hash-<name> (e.g. hash-v1)")
    proxy.add_argument("--log-format", choices=["text", "json"], default="text")

    search = sub.add_parser("search", help="search the running server")
    search.add_argument("query")
    search.add_argument(
        "--index", action="append", default=[], help="index to search (repeatable; default all)"
    )
    search.add_argument("--top-k", type=int, default=0)
    search.add_argument("--min-score", type=float)
    search.add_argument("--filter", action="append", default=[], metavar="FIELD=VALUE")
    search.add_argument("--all-chunks", action="store_true", help="do not collapse hits per document")
    search.add_argument("--target", default=DEFAULT_TARGET)
    search.add_argument("--json", action="store_true", help="print the response as JSON")

    indexes = sub.add_parser("indexes", help="list the indexes of the running server")
    indexes.add_argument("--target", default=DEFAULT_TARGET)
    indexes.add_argument("--json", action="store_true")
    return parser


def _serve(args: argparse.Namespace) -> int:
    from semsearch import app, logs
    from semsearch.config import ConfigError, load_config, with_overrides

    try:
        config = with_overrides(
            load_config(args.config),
            server__listen=args.listen,
            embeddings__url=args.embeddings_url,
            embeddings__model=args.model,
            server__log_format=args.log_format,
            server__log_level=args.log_level,
            metrics__listen=args.metrics_listen,
        )
    except ConfigError as exc:
        print(f"semsearch: config error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    logs.configure(config.server.log_level, config.server.log_format)

    def banner(running: app.RunningApp) -> None:
        target = running.server.address
        url = f"http://{target}"
        print(
            f"\nsemsearch is serving on {target} "
            f"(embeddings: {running.provider_url}, model {config.embeddings.model})\n"
            "Indexes build in the background; try:\n"
            f"  semsearch indexes --target {target}\n"
            f"  semsearch search 'how do I find out why an index stays parked' --target {target}\n"
            f"  grpcurl -plaintext {target} list\n"
            f'  grpcurl -plaintext -d \'{{"query": "how do I swap the embedding model safely"}}\' '
            f"{target} semsearch.v1.SearchService/Search\n"
            f"  buf curl --protocol grpc --http2-prior-knowledge --list-methods {url}\n"
            f'  buf curl --protocol grpc --http2-prior-knowledge -d \'{{"query": "what does PARKED mean"}}\' '
            f"{url}/semsearch.v1.SearchService/Search\n",
            flush=True,
        )

    from semsearch.corpus import CorpusError
    from semsearch.proxy.launcher import ProxyError

    try:
        asyncio.run(app.serve(config, banner))
    except (CorpusError, ProxyError, OSError) as exc:
        print(f"semsearch: cannot start: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def _proxy(args: argparse.Namespace) -> int:
    from semsearch import logs
    from semsearch.proxy.models import UnknownModelError
    from semsearch.proxy.server import serve

    logs.configure("info", args.log_format)
    try:
        serve(host=args.host, port=args.port, model=args.model)
    except UnknownModelError as exc:
        print(f"semsearch proxy: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(
            f"semsearch proxy: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return EXIT_OK


def _client_call(args: argparse.Namespace) -> int:
    import grpc

    from semsearch.api.v1 import admin_pb2, admin_pb2_grpc, search_pb2, search_pb2_grpc
    from semsearch.client_output import print_indexes, print_search

    with grpc.insecure_channel(args.target) as channel:
        try:
            if args.command == "search":
                filters = dict(_split_filter(item) for item in args.filter)
                request = search_pb2.SearchRequest(
                    query=args.query,
                    indexes=args.index,
                    top_k=args.top_k,
                    filter=filters,
                    all_chunks=args.all_chunks,
                )
                if args.min_score is not None:
                    request.min_score = args.min_score
                response: Any = search_pb2_grpc.SearchServiceStub(channel).Search(request, timeout=30)
                print_search(response, as_json=args.json)
            else:
                response = admin_pb2_grpc.AdminServiceStub(channel).ListIndexes(
                    admin_pb2.ListIndexesRequest(), timeout=10
                )
                print_indexes(response, as_json=args.json)
        except grpc.RpcError as exc:
            return _report_rpc_error(exc, args.target)
    return EXIT_OK


def _split_filter(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise SystemExit(f"semsearch: --filter expects FIELD=VALUE, got {item!r}")
    return key, value


def _report_rpc_error(exc: Any, target: str) -> int:
    import grpc
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    code = exc.code()
    reason = ""
    status = rpc_status.from_call(exc)
    for detail in status.details if status is not None else []:
        info = error_details_pb2.ErrorInfo()
        if detail.Is(info.DESCRIPTOR) and detail.Unpack(info):
            reason = info.reason
    # Only the transport itself fails without an ErrorInfo: that is an unreachable server.
    if not reason and code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        print(f"semsearch: cannot reach a server at {target}: {exc.details()}", file=sys.stderr)
        return EXIT_UNREACHABLE
    print(f"semsearch: {code.name}{f' [{reason}]' if reason else ''}: {exc.details()}", file=sys.stderr)
    return EXIT_REFUSED


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "proxy":
        return _proxy(args)
    return _client_call(args)


if __name__ == "__main__":
    sys.exit(main())
