"""Prometheus metrics: a real server with its metrics port, scraped over HTTP and parsed.

Every expected value is known exactly from what the test did: searches made, chunks embedded or
found in the durable cache, queries sent to the provider, streams open.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from semsearch.api.v1 import admin_pb2, search_pb2
from semsearch.app import running
from semsearch.config import Config, with_overrides
from semsearch.embeddings import PROBE_TEXT
from semsearch.observability import NO_METRICS
from semsearch.proxy.launcher import ProxyProcess
from tests.conftest import REPO
from tests.support.corpora import FIXTURE_INDEXES
from tests.support.faults import FaultTransport, status
from tests.support.server import Service, fixture_config
from tests.support.waiting import wait_all_ready, wait_for

INDEXES = ("runbooks", "eips", "specs", "examples")
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def with_metrics(config: Config) -> Config:
    return with_overrides(config, metrics__listen="127.0.0.1:0")


async def scrape(port: int | None) -> Samples:
    assert port is not None, "metrics are off"
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{port}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    assert key in samples, f"no sample {name}{labels}; have {sorted(n for n, _ in samples if n == name)}"
    return samples[key]


def labelled(samples: Samples, name: str, label: str) -> set[str]:
    return {dict(labels).get(label, "") for n, labels in samples if n == name}


class LogSeen(logging.Handler):
    """Sets an asyncio event when a named event is logged (the server logs on the test's loop)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name, self.seen = name, asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == self.name:
            self.seen.set()


@contextlib.contextmanager
def watching_log(name: str) -> Iterator[asyncio.Event]:
    handler = LogSeen(name)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler.seen
    finally:
        root.removeHandler(handler)


def listening_ports() -> set[int]:
    """TCP ports this process listens on (Linux /proc)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


async def search(service: Service, query: str, *indexes: str) -> search_pb2.SearchResponse:
    response: search_pb2.SearchResponse = await service.search.Search(
        search_pb2.SearchRequest(query=query, indexes=indexes)
    )
    return response


async def test_a_scrape_reports_searches_states_builds_provider_and_caches(
    hash_proxy: ProxyProcess, make_service: Any, tmp_path: Path
) -> None:
    config = with_metrics(fixture_config(hash_proxy.url, cache={"path": str(tmp_path / "cache.sqlite")}))
    service: Service = await make_service(config)
    app, manager = service.app, service.app.manager

    # Four answered searches over two distinct texts: the query cache misses twice and hits twice.
    for query, indexes in [
        ("restart the validator", ()),
        ("blob fee market", ()),
        ("restart the validator", ()),
    ]:
        assert (await search(service, query, *indexes)).hits
    assert (await search(service, "blob fee market", "eips")).hits
    refused = {}
    for query, indexes in [("blob fee market", ("eips", "nope")), ("   ", ())]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await search(service, query, *indexes)
        refused[query] = caught.value.code()
    assert list(refused.values()) == [grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT]

    # A Reindex rebuilds every index again; every vector now comes from the durable cache.
    await service.admin.Reindex(admin_pb2.ReindexRequest(reason="metrics test"))
    await wait_for(
        manager, lambda: manager.all_ready() and all(s.generation == 2 for s in manager.statuses())
    )

    samples = await scrape(app.metrics_port)

    search_count = "semsearch_search_duration_seconds_count"
    assert value(samples, search_count, outcome="ok") == 4
    assert value(samples, search_count, outcome="not_found") == 1
    assert value(samples, search_count, outcome="invalid") == 1
    assert labelled(samples, search_count, "outcome") == {"ok", "not_found", "invalid"}
    per_index = "semsearch_search_index_duration_seconds_count"
    for name in INDEXES:
        assert value(samples, per_index, index=name, outcome="ok") == (4 if name == "eips" else 3)
    assert labelled(samples, per_index, "index") == set(INDEXES)  # "nope" never becomes a label

    total_chunks = 0
    for name in INDEXES:
        index = (await service.admin.GetIndex(admin_pb2.GetIndexRequest(name=name))).index
        total_chunks += index.chunk_count
        for state in ("READY", "PARKED", "REBUILDING"):
            expected = 1.0 if state == "READY" else 0.0
            assert value(samples, "semsearch_index_state", index=name, state=state) == expected
        assert value(samples, "semsearch_index_chunks", index=name) == index.chunk_count > 0
        assert value(samples, "semsearch_index_documents", index=name) == index.document_count
        assert value(samples, "semsearch_index_generation", index=name) == index.generation == 2
        assert value(samples, "semsearch_index_failing", index=name) == 0

    rebuilds = "semsearch_index_rebuild_duration_seconds_count"
    assert value(samples, rebuilds, outcome="ok") == 2 * len(INDEXES)  # startup build + Reindex
    assert labelled(samples, rebuilds, "outcome") == {"ok"}
    assert value(samples, "semsearch_chunk_cache_lookups_total", result="miss") == total_chunks
    assert value(samples, "semsearch_chunk_cache_lookups_total", result="hit") == total_chunks
    assert value(samples, "semsearch_query_cache_lookups_total", result="miss") == 2
    assert value(samples, "semsearch_query_cache_lookups_total", result="hit") == 2
    assert value(samples, "semsearch_query_cache_entries") == 2

    provider = "semsearch_provider_request_duration_seconds_count"
    # One per query-cache miss (2), and the probe embedded as a query: twice when the space was first
    # seen, once in the re-probe closing the first build, once in the tick the Reindex woke.
    assert value(samples, provider, task="query", outcome="ok") == 2 + 4
    assert value(samples, provider, task="document", outcome="ok") > 0
    assert value(samples, "semsearch_provider_errors_total", task="document", kind="server_error") == 0
    assert value(samples, "semsearch_provider_retries_total", task="query") == 0
    for role in ("provider", "built"):
        assert (
            value(samples, "semsearch_embedding_space_info", role=role, model="hash-v1", dimensions="384")
            == 1
        )
    assert value(samples, "semsearch_watcher_ticks_total") >= 1
    assert value(samples, "semsearch_reindex_incomplete") == 0
    assert value(samples, "semsearch_watch_subscribers") == 0


async def test_watch_subscribers_follow_open_streams(hash_proxy: ProxyProcess, make_service: Any) -> None:
    service: Service = await make_service(with_metrics(fixture_config(hash_proxy.url)))
    port = service.app.metrics_port
    stream = service.admin.WatchIndexes(admin_pb2.WatchIndexesRequest())
    with watching_log("watch_closed") as closed:
        try:
            first = await stream.read()
            assert first.WhichOneof("payload") == "snapshot"
            assert value(await scrape(port), "semsearch_watch_subscribers") == 1
        finally:
            stream.cancel()
        await asyncio.wait_for(closed.wait(), 30)
    assert value(await scrape(port), "semsearch_watch_subscribers") == 0


async def test_a_failing_provider_shows_in_errors_retries_and_search_outcomes(
    hash_proxy: ProxyProcess, make_service: Any
) -> None:
    def fail_queries(request: httpx.Request) -> Any:
        body = json.loads(request.content)
        searching = body.get("input_type") == "query" and body["input"] != [PROBE_TEXT]  # not the probe
        return status(503, {"retry-after": "0"}) if searching else None

    faults = FaultTransport(httpx.AsyncHTTPTransport(), when=fail_queries)
    service: Service = await make_service(with_metrics(fixture_config(hash_proxy.url)), transport=faults)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await search(service, "restart the validator")
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE

    samples = await scrape(service.app.metrics_port)
    assert value(samples, "semsearch_search_duration_seconds_count", outcome="provider_unavailable") == 1
    for name in INDEXES:
        count = "semsearch_search_index_duration_seconds_count"
        assert value(samples, count, index=name, outcome="provider_unavailable") == 1
    # A query is retried once: two failed requests, one retry.
    assert value(samples, "semsearch_provider_errors_total", task="query", kind="server_error") == 2
    assert value(samples, "semsearch_provider_retries_total", task="query") == 1
    assert (
        value(samples, "semsearch_provider_request_duration_seconds_count", task="query", outcome="error")
        == 2
    )


async def test_the_endpoint_serves_only_metrics_and_closes_its_port_on_stop(hash_proxy: ProxyProcess) -> None:
    async with running(with_metrics(fixture_config(hash_proxy.url))) as app:
        port = app.metrics_port
        assert port is not None and port in listening_ports()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            assert (await client.get("/")).status_code == 404
            assert (await client.post("/metrics")).status_code == 405
            head = await client.head("/metrics")
            assert head.status_code == 200 and head.content == b""
            openmetrics = await client.get(
                "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
            )
            assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
            assert openmetrics.text.rstrip().endswith("# EOF")
        await wait_all_ready(app.manager)
    assert port not in listening_ports()
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(f"http://127.0.0.1:{port}/metrics")


async def test_metrics_are_off_by_default_and_no_port_is_opened(hash_proxy: ProxyProcess) -> None:
    config = fixture_config(hash_proxy.url)
    assert config.metrics.listen == ""
    before = listening_ports()
    async with running(config) as app:
        assert app.metrics_endpoint is None and app.metrics_port is None
        assert app.metrics is NO_METRICS
        assert listening_ports() - before == {app.port}  # the gRPC port and nothing else


@pytest.mark.slow
async def test_serve_metrics_listen_flag_opens_the_port_and_logs_it(
    hash_proxy: ProxyProcess, tmp_path: Path
) -> None:
    config = tmp_path / "semsearch.toml"
    lines = [f'[embeddings]\nurl = "{hash_proxy.url}"\nmodel = "hash-v1"\n[cache]\npath = ""\n']
    lines += [
        f'[[index]]\nname = "{ix["name"]}"\nkind = "{ix["kind"]}"\npath = "{ix["path"]}"\n'
        for ix in FIXTURE_INDEXES
    ]
    config.write_text("".join(lines))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "semsearch",
        "serve",
        "--config",
        str(config),
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
        "--log-format",
        "json",
        cwd=REPO,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    logged: list[str] = []
    try:
        address = ""
        async with asyncio.timeout(60):
            while not address:
                line = (await process.stderr.readline()).decode()
                assert line, "semsearch serve exited before serving metrics"
                logged.append(line)
                if json.loads(line)["event"] == "metrics_server_started":
                    address = json.loads(line)["address"]
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://{address}/metrics")
        names = {family.name for family in text_string_to_metric_families(response.text)}
        assert {
            "semsearch_index_state",
            "semsearch_search_duration_seconds",
            "semsearch_watch_subscribers",
        } <= names
        process.send_signal(signal.SIGTERM)
        logged += (await asyncio.wait_for(process.stderr.read(), 30)).decode().splitlines(keepends=True)
        assert await asyncio.wait_for(process.wait(), 30) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    records = [json.loads(line) for line in logged]  # the real process logs one JSON object per line
    assert {"metrics_server_started", "metrics_server_stopped"} <= {r["event"] for r in records}
