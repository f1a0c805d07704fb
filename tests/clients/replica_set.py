"""Several plain semsearch servers in one process, for client tests in other languages.

    python -m tests.clients.replica_set 3

starts the bundled hash-v1 provider and N servers over the fixture corpora (local backend, every
index READY), prints one JSON line ``{"replicas": ["127.0.0.1:PORT", ...]}``, then answers one
JSON command per stdin line with one JSON line:

    {"health": [i, "NOT_SERVING"]}   set replica i's overall health ("" service); -> {"ok": true}
    {"counts": true}                 searches each replica answered;              -> {"counts": [..]}

It stops everything when stdin closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import sys

from semsearch import logs
from semsearch.app import RunningApp, running
from semsearch.app.prometheus import PrometheusMetrics
from semsearch.config import MetricsConfig
from semsearch.proxy.launcher import start_proxy
from semsearch.service.health_servicer import NOT_SERVING, SERVING
from tests.support.server import fixture_config
from tests.support.waiting import wait_all_ready

STATUSES = {"SERVING": SERVING, "NOT_SERVING": NOT_SERVING}
SEARCHES = "semsearch_search_duration_seconds_count"


def served(app: RunningApp) -> int:
    metrics = app.metrics
    assert isinstance(metrics, PrometheusMetrics)
    return int(metrics.registry.get_sample_value(SEARCHES, {"outcome": "ok"}) or 0)


def answer(apps: list[RunningApp], command: dict[str, object]) -> dict[str, object]:
    if "health" in command:
        index, status = command["health"]  # type: ignore[misc]
        apps[int(index)].server.health.servicer.set("", STATUSES[str(status)])
        return {"ok": True}
    if "counts" in command:
        return {"counts": [served(app) for app in apps]}
    return {"error": f"unknown command {command!r}"}


async def main(count: int) -> None:
    logs.configure("warning", "text")  # stderr: the parent keeps a tail of it
    async with start_proxy(model="hash-v1") as proxy, contextlib.AsyncExitStack() as stack:
        config = dataclasses.replace(fixture_config(proxy.url), metrics=MetricsConfig(listen="127.0.0.1:0"))
        apps = [await stack.enter_async_context(running(config)) for _ in range(count)]
        for app in apps:
            await wait_all_ready(app.manager)
        print(json.dumps({"replicas": [f"127.0.0.1:{app.port}" for app in apps]}), flush=True)
        loop = asyncio.get_running_loop()
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            if line.strip():
                print(json.dumps(answer(apps, json.loads(line))), flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3))
