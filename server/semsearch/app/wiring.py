"""Wiring: config → corpora → embedding provider → index manager → gRPC server; start and stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx

from semsearch.app.metrics_http import MetricsEndpoint, start_metrics_endpoint
from semsearch.app.prometheus import PrometheusMetrics
from semsearch.app.replicated import Replication, replica_name, replicated
from semsearch.app.replication_metrics import ReplicationCollector
from semsearch.app.shared import open_shared
from semsearch.config import Config, IndexConfig
from semsearch.corpus import CorpusError, SourceFileError, load_corpus, source_signature
from semsearch.embeddings import EmbeddingProvider, QueryCache
from semsearch.index.product import single_threaded_blas
from semsearch.lifecycle import IndexManager, IndexSource, Migrator, Watcher, WatcherTiming
from semsearch.logs import event
from semsearch.observability import NO_METRICS, Metrics
from semsearch.proxy.launcher import ProxyProcess, start_proxy
from semsearch.service.server import RunningServer, start_server
from semsearch.store import GenerationStore
from semsearch.store.opening import open_store

log = logging.getLogger(__name__)


def load_sources(config: Config) -> list[IndexSource]:
    """Read every declared corpus; the documents are retained for every later rebuild.

    A folder that is missing or holds nothing of its kind is a configuration mistake: CorpusError,
    naming the index, and the server does not start. A file that cannot be parsed only keeps its
    own index from being built: it waits PARKED with the error while the others serve.
    """
    return [_load_source(ix) for ix in config.indexes]


def _load_source(ix: IndexConfig) -> IndexSource:
    started = time.perf_counter()
    try:
        signature = source_signature(ix.kind, ix.path)  # before reading: an edit meanwhile is seen later
        documents = load_corpus(ix.kind, ix.path, ix.options)
    except SourceFileError as exc:
        event(
            log, "sources_unloadable", level=logging.ERROR, index=ix.name, path=str(ix.path), error=str(exc)
        )
        # No signature: the watcher reads the files again on every tick until they load.
        return IndexSource(
            ix.name,
            ix.kind,
            (),
            ix.path,
            ix.options,
            signature="",
            load_error=str(exc),
            pin_identifiers=ix.pin_identifiers,
        )
    except CorpusError as exc:
        raise CorpusError(f"[[index]] {ix.name!r}: {exc}") from None
    chunks = sum(len(doc.chunks) for doc in documents)
    event(
        log,
        "corpus_loaded",
        index=ix.name,
        kind=ix.kind,
        path=str(ix.path),
        documents=len(documents),
        chunks=chunks,
        seconds=round(time.perf_counter() - started, 3),
    )
    return IndexSource(
        ix.name, ix.kind, tuple(documents), ix.path, ix.options, signature, pin_identifiers=ix.pin_identifiers
    )


def make_provider(
    config: Config,
    url: str,
    transport: httpx.AsyncBaseTransport | None = None,
    metrics: Metrics = NO_METRICS,
) -> EmbeddingProvider:
    emb = config.embeddings
    return EmbeddingProvider(
        url,
        emb.model,
        api_key=os.environ.get(emb.api_key_env) or None,
        batch_size=emb.batch_size,
        concurrency=emb.concurrency,
        query_timeout=emb.query_timeout_seconds,
        batch_timeout=emb.batch_timeout_seconds,
        max_retries=emb.max_retries,
        send_input_type=emb.send_input_type,
        transport=transport,
        metrics=metrics,
    )


def watcher_timing(config: Config) -> WatcherTiming:
    w = config.watcher
    return WatcherTiming(w.interval_seconds, w.jitter_fraction, w.backoff_base_seconds, w.backoff_cap_seconds)


@dataclass
class RunningApp:
    config: Config
    manager: IndexManager
    watcher: Watcher
    server: RunningServer
    provider_url: str
    proxy: ProxyProcess | None
    metrics: Metrics = NO_METRICS
    metrics_endpoint: MetricsEndpoint | None = None  # None: metrics are off ([metrics] listen empty)
    replication: Replication | None = None  # set with a shared store: this replica's part in it

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def metrics_port(self) -> int | None:
        return self.metrics_endpoint.port if self.metrics_endpoint is not None else None


@contextlib.asynccontextmanager
async def running(
    config: Config, provider_transport: httpx.AsyncBaseTransport | None = None
) -> AsyncIterator[RunningApp]:
    """Start everything; on exit stop the server (graceful), the builder and a bundled provider.

    ``provider_transport`` replaces the HTTP transport to the provider (tests inject faults there).
    """
    sources = await asyncio.to_thread(load_sources, config)
    async with contextlib.AsyncExitStack() as stack:
        # Searches split their matrix products across threads themselves (see index.product).
        stack.enter_context(single_threaded_blas())
        proxy: ProxyProcess | None = None
        url = config.embeddings.url
        if not url:
            proxy = await stack.enter_async_context(
                start_proxy(model=config.embeddings.model, port=config.embeddings.proxy_port)
            )
            url = proxy.url
            event(log, "bundled_provider_started", url=url, model=config.embeddings.model)
        # Off by default: no registry, no port, and every report is a no-op call.
        exporter = PrometheusMetrics() if config.metrics.listen else None
        metrics: Metrics = exporter or NO_METRICS
        provider = make_provider(config, url, provider_transport, metrics)
        stack.push_async_callback(provider.aclose)
        shared = await stack.enter_async_context(open_shared(config))
        if shared is not None:
            store: GenerationStore = shared.store
        else:
            store = await asyncio.to_thread(open_store, config)  # memory and the SQLite cache
            stack.callback(store.close)
        manager = IndexManager(
            sources, provider, store=store, query_cache=QueryCache(config.cache.query_cache_size)
        )
        watcher = Watcher(manager, watcher_timing(config))
        migrator = Migrator(manager, config.embeddings.regime)
        manager.attach(waker=watcher, migration=migrator)
        stack.push_async_callback(watcher.stop)
        stack.push_async_callback(migrator.stop)  # before the watcher
        replication = None
        if shared is not None:
            replication = await stack.enter_async_context(
                replicated(manager, watcher, migrator, shared, config.store.poll_seconds)
            )
        server = await start_server(
            manager,
            config.server.listen,
            metrics,
            config.search,
            config.server.max_watch_streams,
            config.credentials,
            feed=replication.watch_feed() if replication is not None else None,
            loaded=replication.tail.caught_up if replication is not None else None,
            replicas=replication.heartbeat.replicas if replication is not None else None,
        )
        stack.push_async_callback(server.stop, config.server.grace_seconds)
        endpoint = None
        if exporter is not None:
            exporter.watch(manager, watcher)
            if replication is not None:
                exporter.registry.register(ReplicationCollector(replication))
            endpoint = await start_metrics_endpoint(exporter.render, config.metrics.listen)
            stack.push_async_callback(endpoint.stop)
        if replication is None:
            watcher.start()
        else:  # with replicas, the one holding the indexer lease runs the watcher
            replication.start(replica_name(server.address))
        yield RunningApp(config, manager, watcher, server, url, proxy, metrics, endpoint, replication)


async def serve(config: Config, on_started: Callable[[RunningApp], None] | None = None) -> None:
    """Run until SIGINT or SIGTERM, then shut down gracefully."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with running(config) as app:
        if on_started is not None:
            on_started(app)
        await stop.wait()
        event(log, "shutdown_requested", grace_seconds=config.server.grace_seconds)
