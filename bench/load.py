"""``python -m bench.load``: a gRPC load generator, run as a process of its own.

N concurrent clients, each on a channel (connection) of its own, call SearchService/Search back to
back over a fixed list of queries for a warm-up and then a measured period, and print one JSON
object: calls, errors by status code, queries per second and latency percentiles (milliseconds),
and the CPU seconds this process spent (it shares the machine with the server).

Requests are serialized once, before the load, and responses are taken as bytes, not parsed: this
process shares the cores with the server it measures, so it spends on each call no more than the
gRPC call itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

from semsearch.api.v1 import search_pb2

# Dense by default: the exact top-k the baselines compute (the server's own default is HYBRID).
MODES = {
    "dense": search_pb2.SEARCH_MODE_DENSE,
    "hybrid": search_pb2.SEARCH_MODE_HYBRID,
    "lexical": search_pb2.SEARCH_MODE_LEXICAL,
}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


SEARCH_METHOD = "/semsearch.v1.SearchService/Search"


async def _client(
    target: str,
    requests: list[bytes],
    offset: int,
    measure_from: float,
    stop_at: float,
    latencies: list[float],
    errors: Counter[str],
    rpc: str = "search",
) -> None:
    async with grpc.aio.insecure_channel(target) as channel:
        search = channel.unary_unary(SEARCH_METHOD)  # bytes in, bytes out: no (de)serializing here
        health = health_pb2_grpc.HealthStub(channel)
        check = health_pb2.HealthCheckRequest()
        i = offset
        while True:
            request = requests[i % len(requests)]
            i += 1
            started = time.perf_counter()
            if started >= stop_at:
                return
            try:
                if rpc == "health":  # the round trip alone: the floor under any Search
                    await health.Check(check, timeout=30)
                else:
                    await search(request, timeout=30)
            except grpc.aio.AioRpcError as exc:
                if started >= measure_from:
                    errors[exc.code().name] += 1
                continue
            if started >= measure_from:
                latencies.append(time.perf_counter() - started)


async def generate(
    target: str,
    queries: list[str],
    clients: int,
    seconds: float,
    warmup: float,
    index: str = "",
    top_k: int = 10,
    all_chunks: bool = True,
    mode: str = "dense",
    rpc: str = "search",
) -> dict[str, Any]:
    requests = [
        search_pb2.SearchRequest(
            query=q,
            indexes=[index] if index else [],
            top_k=top_k,
            all_chunks=all_chunks,
            mode=MODES[mode],
        ).SerializeToString()
        for q in queries
    ]
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    begin = time.perf_counter()
    measure_from = begin + warmup
    stop_at = measure_from + seconds
    cpu_at_start = _cpu_seconds()
    stride = max(1, len(requests) // clients)  # clients start at different queries
    await asyncio.gather(
        *(
            _client(target, requests, c * stride, measure_from, stop_at, latencies, errors, rpc)
            for c in range(clients)
        )
    )
    elapsed = min(time.perf_counter(), stop_at) - measure_from
    ms = np.asarray(latencies) * 1000
    return {
        "clients": clients,
        "calls": len(latencies),
        "errors": dict(errors),
        "seconds": elapsed,
        "qps": len(latencies) / elapsed if elapsed > 0 else 0.0,
        "p50_ms": float(np.percentile(ms, 50)) if len(ms) else None,
        "p90_ms": float(np.percentile(ms, 90)) if len(ms) else None,
        "p99_ms": float(np.percentile(ms, 99)) if len(ms) else None,
        "cpu_seconds": _cpu_seconds() - cpu_at_start,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("--target", required=True, help="host:port of the semsearch server")
    parser.add_argument("--queries", required=True, type=Path, help="JSON file: a list of query texts")
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured period")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured period first")
    parser.add_argument("--index", default="", help="search only this index (default: every index)")
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--collapse", action="store_true", help="one hit per document (all_chunks off)")
    parser.add_argument("--mode", choices=sorted(MODES), default="dense", help="search mode (default: dense)")
    parser.add_argument(
        "--rpc", choices=["search", "health"], default="search", help="health: Health/Check, the gRPC floor"
    )
    args = parser.parse_args(argv)
    queries = json.loads(args.queries.read_text())
    result = asyncio.run(
        generate(
            args.target,
            queries,
            args.clients,
            args.seconds,
            args.warmup,
            args.index,
            args.top_k,
            not args.collapse,
            args.mode,
            args.rpc,
        )
    )
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
