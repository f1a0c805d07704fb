"""TLS and the bearer token against real servers on 127.0.0.1: who gets in, who does not, and what
every refusal carries (status code, ErrorInfo reason) — never the token that was presented."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from semsearch.api.v1 import admin_pb2, admin_pb2_grpc, search_pb2, search_pb2_grpc
from semsearch.proxy.launcher import ProxyProcess
from tests.service.test_reflection import buf
from tests.support.server import Service, fixture_config
from tests.support.tls import SelfSigned, secured, self_signed

TOKEN = "the-right-token-0123456789"
WRONG = "not-the-token-9876543210abc"
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED

Call = Callable[[grpc.aio.Channel, tuple[tuple[str, str], ...]], Awaitable[Any]]


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


async def _watch_first(channel: grpc.aio.Channel, metadata: tuple[tuple[str, str], ...]) -> Any:
    call = admin_pb2_grpc.AdminServiceStub(channel).WatchIndexes(
        admin_pb2.WatchIndexesRequest(), metadata=metadata, timeout=10
    )
    try:
        return await call.read()
    finally:
        call.cancel()


READS: dict[str, Call] = {
    "Search": lambda ch, md: search_pb2_grpc.SearchServiceStub(ch).Search(
        search_pb2.SearchRequest(query="validator"), metadata=md, timeout=10
    ),
    "ListIndexes": lambda ch, md: admin_pb2_grpc.AdminServiceStub(ch).ListIndexes(
        admin_pb2.ListIndexesRequest(), metadata=md, timeout=10
    ),
    "GetIndex": lambda ch, md: admin_pb2_grpc.AdminServiceStub(ch).GetIndex(
        admin_pb2.GetIndexRequest(name="eips"), metadata=md, timeout=10
    ),
    "GetEmbeddingSpace": lambda ch, md: admin_pb2_grpc.AdminServiceStub(ch).GetEmbeddingSpace(
        admin_pb2.GetEmbeddingSpaceRequest(), metadata=md, timeout=10
    ),
    "ListReplicas": lambda ch, md: admin_pb2_grpc.AdminServiceStub(ch).ListReplicas(
        admin_pb2.ListReplicasRequest(), metadata=md, timeout=10
    ),
    "WatchIndexes": _watch_first,
}
MUTATIONS: dict[str, Call] = {
    "Reindex": lambda ch, md: admin_pb2_grpc.AdminServiceStub(ch).Reindex(
        admin_pb2.ReindexRequest(indexes=["eips"], reason="security test"), metadata=md, timeout=10
    ),
    "MigrateModel": lambda ch, md: admin_pb2_grpc.AdminServiceStub(ch).MigrateModel(
        admin_pb2.MigrateModelRequest(model="hash-v2"), metadata=md, timeout=10
    ),
    "CancelMigration": lambda ch, md: admin_pb2_grpc.AdminServiceStub(ch).CancelMigration(
        admin_pb2.CancelMigrationRequest(), metadata=md, timeout=10
    ),
}
# Every method of both services is classified: a new one must be added here (and to auth.py).
assert {m.name for m in admin_pb2.DESCRIPTOR.services_by_name["AdminService"].methods} | {"Search"} == (
    set(READS) | set(MUTATIONS)
)


def error_info(exc: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(exc)
    assert status is not None, "no rich status"
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info
    raise AssertionError("no ErrorInfo")


async def refusal(call: Call, channel: grpc.aio.Channel, metadata: tuple[tuple[str, str], ...]) -> Any:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call(channel, metadata)
    return raised.value


@pytest.fixture
def tls(tmp_path: Path) -> SelfSigned:
    return self_signed(tmp_path / "tls")


@pytest.fixture
async def token_service(hash_proxy: ProxyProcess, make_service: Any) -> Service:
    """Plaintext on loopback, with a token: mutations need it, reads do not."""
    service: Service = await make_service(secured(fixture_config(hash_proxy.url), token=TOKEN))
    return service


@pytest.fixture
async def closed_service(hash_proxy: ProxyProcess, make_service: Any) -> Service:
    """A token required for every semsearch call, reads included."""
    service: Service = await make_service(secured(fixture_config(hash_proxy.url), token=TOKEN, reads=True))
    return service


@pytest.fixture
async def tls_service(hash_proxy: ProxyProcess, make_service: Any, tls: SelfSigned) -> Service:
    service: Service = await make_service(secured(fixture_config(hash_proxy.url), tls=tls))
    return service


@pytest.fixture
async def tls_channel(tls_service: Service, tls: SelfSigned) -> AsyncIterator[grpc.aio.Channel]:
    credentials = grpc.ssl_channel_credentials(root_certificates=tls.cert_pem)
    async with grpc.aio.secure_channel(f"127.0.0.1:{tls_service.app.port}", credentials) as channel:
        yield channel


# -- TLS ------------------------------------------------------------------------------------------
async def test_a_client_trusting_the_certificate_searches_over_tls(
    tls_service: Service, tls_channel: grpc.aio.Channel, tls: SelfSigned
) -> None:
    response = await READS["Search"](tls_channel, ())
    assert response.hits and response.query_space.model == "hash-v1"
    # By name too: the certificate holds localhost as well as 127.0.0.1.
    credentials = grpc.ssl_channel_credentials(root_certificates=tls.cert_pem)
    async with grpc.aio.secure_channel(f"localhost:{tls_service.app.port}", credentials) as by_name:
        assert len((await READS["ListIndexes"](by_name, ())).indexes) == 4


async def test_a_plaintext_client_gets_no_answer_from_the_tls_port(tls_service: Service) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{tls_service.app.port}") as plaintext:
        exc = await refusal(READS["Search"], plaintext, ())
    assert exc.code() == grpc.StatusCode.UNAVAILABLE
    assert rpc_status.from_call(exc) is None  # the transport failed: the server never saw a call


async def test_a_client_trusting_another_root_fails_the_handshake(
    tls_service: Service, tmp_path: Path
) -> None:
    stranger = self_signed(tmp_path / "stranger")  # same names, another key: not the server's certificate
    credentials = grpc.ssl_channel_credentials(root_certificates=stranger.cert_pem)
    async with grpc.aio.secure_channel(f"127.0.0.1:{tls_service.app.port}", credentials) as channel:
        exc = await refusal(READS["Search"], channel, ())
    assert exc.code() == grpc.StatusCode.UNAVAILABLE
    assert "CERTIFICATE_VERIFY_FAILED" in (exc.details() or "")


async def test_health_and_reflection_answer_over_tls(tls_channel: grpc.aio.Channel) -> None:
    health = health_pb2_grpc.HealthStub(tls_channel)
    answer = await health.Check(health_pb2.HealthCheckRequest(service="semsearch.index.eips"), timeout=10)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    names = await list_services(tls_channel, ())
    assert "semsearch.v1.SearchService" in names


# -- the bearer token -------------------------------------------------------------------------------
PRESENTED = {
    "none": ((), UNAUTHENTICATED, "TOKEN_REQUIRED"),
    "other-scheme": ((("authorization", f"Basic {TOKEN}"),), UNAUTHENTICATED, "TOKEN_REQUIRED"),
    "scheme-only": ((("authorization", "Bearer"),), UNAUTHENTICATED, "TOKEN_REQUIRED"),
    "twice": (bearer(TOKEN) + bearer(TOKEN), UNAUTHENTICATED, "TOKEN_REQUIRED"),
    "wrong": (bearer(WRONG), PERMISSION_DENIED, "TOKEN_INVALID"),
    "prefix": (bearer(TOKEN[:-1]), PERMISSION_DENIED, "TOKEN_INVALID"),
    "longer": (bearer(TOKEN + "x"), PERMISSION_DENIED, "TOKEN_INVALID"),
}


@pytest.mark.parametrize("method", sorted(MUTATIONS))
@pytest.mark.parametrize("presented", sorted(PRESENTED))
async def test_a_mutation_without_the_right_token_is_refused_with_error_info(
    token_service: Service, method: str, presented: str
) -> None:
    metadata, code, reason = PRESENTED[presented]
    exc = await refusal(MUTATIONS[method], token_service.channel, metadata)
    assert exc.code() == code
    info = error_info(exc)
    assert (info.reason, info.domain) == (reason, "semsearch.v1")
    assert info.metadata["method"] == f"/semsearch.v1.AdminService/{method}"
    for secret in (TOKEN, WRONG, TOKEN[:-1]):
        assert secret not in (exc.details() or "") and secret not in str(info)


@pytest.mark.parametrize("method", sorted(MUTATIONS))
async def test_a_mutation_with_the_right_token_reaches_the_method(
    token_service: Service, method: str
) -> None:
    try:
        await MUTATIONS[method](token_service.channel, bearer(TOKEN))
    except grpc.aio.AioRpcError as exc:
        # MigrateModel and CancelMigration answer for themselves (this server's regime does not
        # migrate): what matters is that the method, not the gate, answered.
        assert exc.code() == grpc.StatusCode.FAILED_PRECONDITION, exc
        assert error_info(exc).reason not in ("TOKEN_REQUIRED", "TOKEN_INVALID")
    else:
        assert method == "Reindex"


async def test_the_scheme_is_case_insensitive(token_service: Service) -> None:
    response = await MUTATIONS["Reindex"](token_service.channel, (("authorization", f"bearer {TOKEN}"),))
    assert [ix.name for ix in response.indexes] == ["eips"]


async def test_the_gate_answers_before_the_method_runs(
    token_service: Service, closed_service: Service
) -> None:
    # Requests the methods themselves would refuse (NOT_FOUND, INVALID_ARGUMENT) are refused for the
    # token first: the method never ran, and a caller without the token learns nothing about indexes.
    admin = admin_pb2_grpc.AdminServiceStub(token_service.channel)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await admin.Reindex(admin_pb2.ReindexRequest(indexes=["no-such-index"]), metadata=bearer(WRONG))
    assert raised.value.code() == PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await admin.Reindex(admin_pb2.ReindexRequest(indexes=["no-such-index"]), metadata=bearer(TOKEN))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND  # with the token, the method answers
    closed = admin_pb2_grpc.AdminServiceStub(closed_service.channel)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await closed.GetIndex(admin_pb2.GetIndexRequest(name="no-such-index"))
    assert raised.value.code() == UNAUTHENTICATED


@pytest.mark.parametrize("method", sorted(READS))
async def test_reads_stay_open_by_default(token_service: Service, method: str) -> None:
    assert await READS[method](token_service.channel, ()) is not None
    assert await READS[method](token_service.channel, bearer(WRONG)) is not None  # not even checked


@pytest.mark.parametrize("method", sorted(READS))
async def test_require_token_for_reads_closes_every_read_watch_included(
    closed_service: Service, method: str
) -> None:
    exc = await refusal(READS[method], closed_service.channel, ())
    assert (exc.code(), error_info(exc).reason) == (UNAUTHENTICATED, "TOKEN_REQUIRED")
    exc = await refusal(READS[method], closed_service.channel, bearer(WRONG))
    assert (exc.code(), error_info(exc).reason) == (PERMISSION_DENIED, "TOKEN_INVALID")
    answer = await READS[method](closed_service.channel, bearer(TOKEN))
    if method == "WatchIndexes":
        assert len(answer.snapshot.indexes) == 4
    else:
        assert answer is not None


async def list_services(channel: grpc.aio.Channel, metadata: tuple[tuple[str, str], ...]) -> set[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    call = stub.ServerReflectionInfo(metadata=metadata, timeout=10)
    await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
    response = await call.read()
    await call.done_writing()
    return {service.name for service in response.list_services_response.service}


async def test_health_and_reflection_stay_open_when_every_call_needs_the_token(
    closed_service: Service,
) -> None:
    health = health_pb2_grpc.HealthStub(closed_service.channel)
    answer = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    watch = health.Watch(health_pb2.HealthCheckRequest(service="semsearch.index.eips"), timeout=10)
    assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
    watch.cancel()
    assert {"semsearch.v1.SearchService", "semsearch.v1.AdminService"} <= await list_services(
        closed_service.channel, ()
    )


async def test_the_token_gate_composes_with_draining(closed_service: Service) -> None:
    gate = closed_service.app.server.gate
    gate.draining = True  # what a SIGTERM does first: new calls are turned away
    try:
        exc = await refusal(READS["Search"], closed_service.channel, ())
        assert (exc.code(), error_info(exc).reason) == (UNAUTHENTICATED, "TOKEN_REQUIRED")
        exc = await refusal(READS["Search"], closed_service.channel, bearer(TOKEN))
        assert (exc.code(), error_info(exc).reason) == (grpc.StatusCode.UNAVAILABLE, "SERVER_SHUTTING_DOWN")
    finally:
        gate.draining = False


async def test_tls_and_token_together(hash_proxy: ProxyProcess, make_service: Any, tls: SelfSigned) -> None:
    service: Service = await make_service(secured(fixture_config(hash_proxy.url), tls=tls, token=TOKEN))
    credentials = grpc.ssl_channel_credentials(root_certificates=tls.cert_pem)
    async with grpc.aio.secure_channel(f"127.0.0.1:{service.app.port}", credentials) as channel:
        exc = await refusal(MUTATIONS["Reindex"], channel, ())
        assert exc.code() == UNAUTHENTICATED
        accepted = await MUTATIONS["Reindex"](channel, bearer(TOKEN))
        assert [ix.name for ix in accepted.indexes] == ["eips"]
        await asyncio.wait_for(READS["Search"](channel, ()), 10)


@pytest.mark.slow
async def test_buf_curl_lists_over_tls_and_searches_with_the_token(
    hash_proxy: ProxyProcess, make_service: Any, tls: SelfSigned
) -> None:
    config = secured(fixture_config(hash_proxy.url), tls=tls, token=TOKEN, reads=True)
    service: Service = await make_service(config)
    url = f"https://127.0.0.1:{service.app.port}"

    async def curl(*args: str) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            buf(), "curl", "--protocol", "grpc", "--cacert", str(tls.cert), *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode is not None
        return process.returncode, out.decode()

    code, out = await curl("--list-methods", url)  # reflection: open without the token
    assert code == 0 and "semsearch.v1.SearchService/Search" in out, out
    search = ["-d", '{"query": "validator", "top_k": 1}', f"{url}/semsearch.v1.SearchService/Search"]
    code, out = await curl(*search)
    assert code != 0 and "unauthenticated" in out, out
    code, out = await curl("-H", f"authorization: Bearer {TOKEN}", *search)
    assert code == 0 and '"hits"' in out, out
