"""The ``semsearch`` command: serve and proxy here; the client commands (search, status, indexes,
watch, reindex) live in ``semsearch.console``.

Exit codes:
  0    success (for ``watch``, also Ctrl-C)
  1    the server refused the call (status code and ErrorInfo reason are printed); ``serve`` crashed
  2    bad usage or configuration; ``serve`` could not start
  3    no server reachable at ``--target`` (or no answer within ``--timeout``)
  4    ``reindex --wait``: a rebuild failed
  5    ``reindex --wait``: ``--wait-timeout`` elapsed first
  6    the server refused the bearer token: none sent (UNAUTHENTICATED) or a wrong one (PERMISSION_DENIED)
  130  interrupted (Ctrl-C)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from semsearch.console import commands
from semsearch.console.exits import EPILOG, EXIT_OK, EXIT_USAGE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="semsearch",
        description="Semantic search over gRPC.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
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
    proxy.add_argument("--model", default="e5-small", help="e5-small, minilm or hash-<name> (e.g. hash-v1)")
    proxy.add_argument(
        "--models",
        help="serve several models side by side, chosen by each request's model field "
        "(comma-separated, e.g. hash-v1,hash-v2); replaces --model",
    )
    proxy.add_argument("--log-format", choices=["text", "json"], default="text")
    proxy.add_argument(
        "--admin-token-env",
        metavar="NAME",
        help="environment variable holding a token that the model switch (/admin/model) then requires",
    )

    commands.add_commands(sub)
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
        from semsearch.banner import Serving, find_tools, render

        admin = running.proxy.admin_url if running.proxy is not None else None
        serving = Serving(running.server.address, running.provider_url, admin)
        print(render(config, serving, find_tools(Path.cwd())), flush=True)

    from semsearch.corpus import CorpusError
    from semsearch.proxy.launcher import ProxyError

    try:
        asyncio.run(app.serve(config, banner))
    except ConfigError as exc:  # found only at start, e.g. a [store] database that cannot be used
        print(f"semsearch: config error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (CorpusError, ProxyError, OSError) as exc:
        print(f"semsearch: cannot start: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def _proxy(args: argparse.Namespace) -> int:
    from semsearch import logs
    from semsearch.credentials import Secret
    from semsearch.proxy.models import UnknownModelError
    from semsearch.proxy.server import serve

    logs.configure("info", args.log_format)
    admin_token = None
    if args.admin_token_env is not None:
        value = os.environ.get(args.admin_token_env, "")
        if not value.strip():
            print(
                f"semsearch proxy: --admin-token-env: the environment variable {args.admin_token_env} "
                "is unset or empty",
                file=sys.stderr,
            )
            return EXIT_USAGE
        admin_token = Secret(value.strip().encode())
    try:
        models = [name.strip() for name in (args.models or "").split(",") if name.strip()]
        serve(host=args.host, port=args.port, model=args.model, models=models, admin_token=admin_token)
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


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "proxy":
        return _proxy(args)
    return commands.run(args)


if __name__ == "__main__":
    sys.exit(main())
