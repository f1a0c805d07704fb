"""The Python client against a real server with TLS and a bearer token required for every call."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import grpc
import pytest

from semsearch.proxy.launcher import ProxyProcess
from semsearch_client import (
    AsyncSemsearchClient,
    PermissionDeniedError,
    SemsearchClient,
    UnauthenticatedError,
    UnreachableError,
    load_root_certificates,
)
from tests.support.server import Service, fixture_config
from tests.support.tls import SelfSigned, secured, self_signed

TOKEN = "client-test-token-0123456789"


@pytest.fixture
def tls(tmp_path: Path) -> SelfSigned:
    return self_signed(tmp_path / "tls")


@pytest.fixture
async def target(hash_proxy: ProxyProcess, make_service: Any, tls: SelfSigned) -> str:
    config = secured(fixture_config(hash_proxy.url), tls=tls, token=TOKEN, reads=True)
    service: Service = await make_service(config)
    return f"127.0.0.1:{service.app.port}"


async def test_the_async_client_searches_reindexes_and_watches_with_tls_and_a_token(
    target: str, tls: SelfSigned
) -> None:
    async with AsyncSemsearchClient(target, token=TOKEN, root_certificates=tls.cert_pem) as client:
        assert (await client.search("validator", top_k=2)).hits
        assert [ix.name for ix in await client.reindex("eips", reason="client test")] == ["eips"]
        async with client.watch_indexes(max_attempts=1) as watch:
            first = await asyncio.wait_for(anext(watch), 10)
        assert first.snapshot is not None and len(first.snapshot.indexes) == 4


async def test_the_blocking_client_searches_and_reindexes_with_tls_and_a_token(
    target: str, tls: SelfSigned
) -> None:
    def calls() -> tuple[int, int, list[str]]:  # in a thread: the server runs on this test's loop
        with SemsearchClient(target, token=TOKEN, root_certificates=tls.cert_pem) as client:
            hits = len(client.search("validator", top_k=2).hits)
            return hits, len(client.list_indexes()), [ix.name for ix in client.reindex(["eips"])]

    hits, indexes, accepted = await asyncio.to_thread(calls)
    assert hits > 0 and indexes == 4 and accepted == ["eips"]


async def test_without_the_token_calls_and_watches_raise_unauthenticated(
    target: str, tls: SelfSigned
) -> None:
    async with AsyncSemsearchClient(target, root_certificates=tls.cert_pem) as client:
        with pytest.raises(UnauthenticatedError) as raised:
            await client.search("validator")
        assert raised.value.reason == "TOKEN_REQUIRED" and not raised.value.retryable
        with pytest.raises(UnauthenticatedError):
            # A refused subscription is not resubscribed: the same request would be refused again.
            async with client.watch_indexes() as watch:
                await asyncio.wait_for(anext(watch), 10)


async def test_a_wrong_token_raises_permission_denied(target: str, tls: SelfSigned) -> None:
    def reindex() -> None:
        with SemsearchClient(target, token="x" * 24, root_certificates=tls.cert_pem) as client:
            client.reindex()

    with pytest.raises(PermissionDeniedError) as raised:
        await asyncio.to_thread(reindex)
    assert raised.value.reason == "TOKEN_INVALID"
    assert raised.value.code == grpc.StatusCode.PERMISSION_DENIED


async def test_system_roots_do_not_trust_a_self_signed_server(target: str) -> None:
    async with AsyncSemsearchClient(target, token=TOKEN, secure=True, timeout=10) as client:
        with pytest.raises(UnreachableError):
            await client.list_indexes()


async def test_a_plaintext_client_cannot_reach_the_tls_server(target: str) -> None:
    async with AsyncSemsearchClient(target, token=TOKEN, timeout=10) as client:
        with pytest.raises(UnreachableError):
            await client.list_indexes()


def test_bad_arguments_fail_at_construction(tls: SelfSigned) -> None:
    with pytest.raises(ValueError, match="visible ASCII"):
        SemsearchClient("127.0.0.1:1", token="two words")
    with pytest.raises(ValueError, match="visible ASCII"):
        SemsearchClient("127.0.0.1:1", token="   ")
    channel = grpc.insecure_channel("127.0.0.1:1")
    try:
        with pytest.raises(ValueError, match="TLS belongs to the channel"):
            SemsearchClient(channel=channel, root_certificates=tls.cert_pem)
    finally:
        channel.close()


def test_root_certificates_load_from_a_pem_file(tls: SelfSigned, tmp_path: Path) -> None:
    assert load_root_certificates(tls.cert) == tls.cert_pem
    der = tmp_path / "cert.der"
    der.write_bytes(b"\x30\x82\x01\x0a")  # the start of a DER certificate: not PEM
    with pytest.raises(ValueError, match=r"cert\.der holds no PEM certificate"):
        load_root_certificates(der)
    with pytest.raises(ValueError, match="holds no PEM certificate"):
        load_root_certificates(tls.key)  # a private key is not a certificate
    with pytest.raises(FileNotFoundError):
        load_root_certificates(tmp_path / "missing.crt")


def test_roots_without_a_pem_certificate_fail_at_construction() -> None:
    with pytest.raises(ValueError, match="root_certificates holds no PEM certificate"):
        SemsearchClient("127.0.0.1:1", root_certificates=b"not a certificate")


async def test_several_tls_replicas_are_reached_through_one_client(
    hash_proxy: ProxyProcess, make_service: Any, tls: SelfSigned
) -> None:
    # Each replica presents the same certificate; the client checks it against the first address.
    config = secured(fixture_config(hash_proxy.url), tls=tls, token=TOKEN, reads=True)
    replicas: list[Service] = [await make_service(config) for _ in range(2)]
    targets = [f"127.0.0.1:{r.app.port}" for r in replicas]
    async with AsyncSemsearchClient(targets, token=TOKEN, root_certificates=tls.cert_pem) as client:
        for _ in range(4):
            assert (await client.search("validator", top_k=2, mode="lexical")).hits
