"""The grpc.aio server: Search and Admin, plus the standard health and reflection services."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from semsearch.api.v1 import admin_pb2, admin_pb2_grpc, search_pb2, search_pb2_grpc
from semsearch.config import SearchConfig, ServerConfig
from semsearch.credentials import NO_CREDENTIALS, Credentials, exposure_warning
from semsearch.lifecycle import IndexManager
from semsearch.logs import event
from semsearch.observability import NO_METRICS, Metrics
from semsearch.search.searcher import Searcher
from semsearch.service.admin import AdminServicer, WatchFeed
from semsearch.service.auth import TokenGate
from semsearch.service.decoding import MAX_REQUEST_BYTES, RECEIVE_LIMIT_BYTES, add_servicer
from semsearch.service.draining import DrainGate
from semsearch.service.health import HealthReporter
from semsearch.service.replicas import Reports
from semsearch.service.search import SearchServicer

log = logging.getLogger(__name__)

SERVICE_NAMES = (
    search_pb2.DESCRIPTOR.services_by_name["SearchService"].full_name,
    admin_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name,
    health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
    reflection.SERVICE_NAME,
)


@dataclass
class RunningServer:
    server: grpc.aio.Server
    manager: IndexManager
    health: HealthReporter
    port: int
    address: str
    gate: DrainGate
    searcher: Searcher
    admin: AdminServicer

    async def stop(self, grace: float) -> None:
        """Health goes NOT_SERVING first, watch streams end with OK, new calls are turned away until
        callers stop coming (at most half of ``grace``), then running calls get the rest of it."""
        await self.health.shutdown()
        self.manager.bus.close()
        self.admin.feed.bus.close()  # the same bus, or a shared log's feed: its streams end too
        drained = await self.gate.drain(grace)
        await self.server.stop(max(grace - drained, 0.0))
        event(log, "grpc_server_stopped", address=self.address)


async def start_server(
    manager: IndexManager,
    listen: str,
    metrics: Metrics = NO_METRICS,
    search: SearchConfig | None = None,
    max_watch_streams: int = ServerConfig.max_watch_streams,
    credentials: Credentials = NO_CREDENTIALS,
    feed: WatchFeed | None = None,
    loaded: asyncio.Event | None = None,
    replicas: Reports | None = None,
) -> RunningServer:
    """Bind ``listen`` (port 0 picks a free one), register every service, start serving.

    ``credentials`` add TLS on the port and a bearer token check in front of the servicers.
    ``feed`` is what WatchIndexes streams (a shared log's, on a replica); until ``loaded`` is set
    (a replica loading what it serves) health reports NOT_SERVING, so balancers send no traffic.
    """
    gate = DrainGate()
    interceptors: list[grpc.aio.ServerInterceptor] = [gate]
    if credentials.token is not None:
        # Outermost: a caller without the token learns nothing, not even that the server is draining.
        interceptors.insert(0, TokenGate(credentials.token, credentials.require_token_for_reads))
    server = grpc.aio.server(
        interceptors=interceptors,
        options=[
            # Above the documented limit, so the methods themselves refuse what lies between.
            ("grpc.max_receive_message_length", RECEIVE_LIMIT_BYTES),
            ("grpc.max_send_message_length", MAX_REQUEST_BYTES),
            ("grpc.so_reuseport", 0),
        ],
    )
    searcher = Searcher(manager, metrics, search)
    # Each method decodes its own request, after the gates above: see service.decoding.
    searching = SearchServicer(searcher, metrics)
    add_servicer(server, search_pb2_grpc.add_SearchServiceServicer_to_server, searching, metrics)
    admin = AdminServicer(manager, metrics, max_watch_streams, feed, replicas)
    add_servicer(server, admin_pb2_grpc.add_AdminServiceServicer_to_server, admin, metrics)
    health = HealthReporter(manager, loaded=loaded)
    health_pb2_grpc.add_HealthServicer_to_server(health.servicer, server)
    reflection.enable_server_reflection(SERVICE_NAMES, server)
    try:
        port = _bind(server, listen, credentials)
    except RuntimeError as exc:  # grpc reports a taken or invalid address this way
        raise OSError(f"could not listen on {listen}: {exc}") from None
    if port == 0:
        raise OSError(f"could not listen on {listen}")
    await server.start()
    await health.start()
    host = listen.rpartition(":")[0]
    address = f"{host}:{port}"
    admin.address = address
    reads = credentials.require_token_for_reads
    auth = "off" if credentials.token is None else "all" if reads else "mutations"
    event(
        log,
        "grpc_server_started",
        address=address,
        services=",".join(SERVICE_NAMES),
        tls=credentials.tls is not None,
        token_required_for=auth,
    )
    warning = exposure_warning(listen, credentials)
    if warning is not None:
        event(log, "grpc_server_exposed", level=logging.WARNING, address=address, warning=warning)
    return RunningServer(server, manager, health, port, address, gate, searcher, admin)


def _bind(server: grpc.aio.Server, listen: str, credentials: Credentials) -> int:
    if credentials.tls is None:
        return server.add_insecure_port(listen)
    tls = credentials.tls
    pair = (tls.private_key.reveal(), tls.certificate_chain)
    return server.add_secure_port(listen, grpc.ssl_server_credentials([pair]))
