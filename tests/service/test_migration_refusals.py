"""Planned model migration over gRPC, the refusals: a model the provider does not serve, the current
model, a malformed name, and a provider that chooses the model itself. Nothing starts.
Helpers: tests/support/migration.py.
"""

from __future__ import annotations

from typing import Any

import grpc

from semsearch.api.v1 import admin_pb2
from semsearch.proxy.launcher import ProxyProcess
from tests.support.migration import CLIENT_CHOSEN, READY, indexes, migrate, refused
from tests.support.server import Service, fixture_config


async def test_a_model_the_provider_does_not_serve_is_refused(
    two_models: ProxyProcess, make_service: Any
) -> None:
    service: Service = await make_service(fixture_config(two_models.url, **CLIENT_CHOSEN))
    code, reason, got = await refused(migrate(service, "hash-v9"))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "MODEL_NOT_SERVED")
    assert got.error_info.metadata["model"] == "hash-v9" and "404" in got.message
    code, reason, _ = await refused(migrate(service, "hash-v1"))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "MODEL_ALREADY_CURRENT")
    for bad in ("", " hash-v2", "hash\nv2", "x" * 201):
        code, reason, got = await refused(migrate(service, bad))
        assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_MODEL")
        assert got.bad_request.field_violations[0].field == "model"
    space = await service.admin.GetEmbeddingSpace(admin_pb2.GetEmbeddingSpaceRequest())
    assert not space.HasField("migration")  # nothing started
    assert {(ix.state, ix.space.model, ix.generation) for ix in await indexes(service)} == {
        (READY, "hash-v1", 1)
    }


async def test_a_provider_that_chooses_the_model_itself_cannot_be_migrated(
    hash_proxy: ProxyProcess, make_service: Any
) -> None:
    # A single-model proxy ignores the requested name: it answers hash-v2 requests as hash-v1.
    service: Service = await make_service(fixture_config(hash_proxy.url, **CLIENT_CHOSEN))
    code, reason, got = await refused(migrate(service, "hash-v2"))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "MODEL_NOT_SERVED")
    assert "answered as 'hash-v1'" in got.message
    provider_chosen: Service = await make_service(fixture_config(hash_proxy.url))
    code, reason, _ = await refused(migrate(provider_chosen, "hash-v2"))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "MODEL_CHOSEN_BY_PROVIDER")
