"""A space recorded with another model's query probe heals itself instead of refusing forever.

The provider answers the first probe's query requests with another model under the same name
(document, query, document, query: a swap and back in each gap between two requests). Both rounds
agree, so the space is recorded with a query probe its indexes were not built with. Every
real query then proves another model and is refused; the refusal wakes the watcher, whose probe
finds the query probe changed, re-probes and rebuilds, and searches are answered again.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import grpc
import httpx
import numpy as np
import pytest

from semsearch.api.v1 import search_pb2
from semsearch.embeddings import PROBE_TEXT
from semsearch.proxy.app import create_app
from tests.support.faults import Action, FaultTransport, edited, is_probe
from tests.support.oracle import assert_scored_in, vector
from tests.support.server import Service, fixture_config
from tests.support.status import failure
from tests.support.waiting import wait_for


def first_query_probes(count: int, action: Action) -> Any:
    """A ``when`` chooser: ``action`` for the first ``count`` probes embedded as queries."""
    left = [count]

    def choose(request: httpx.Request) -> Action | None:
        as_query = json.loads(request.content).get("input_type") == "query"
        if is_probe(request) and as_query and left[0] > 0:
            left[0] -= 1
            return action
        return None

    return choose


async def test_a_query_probe_recorded_from_another_model_is_reprobed_and_rebuilt(make_service: Any) -> None:
    impostor = edited(httpx.ASGITransport(app=create_app("hash-v2")), lambda a: a.update(model="hash-v1"))
    faults = FaultTransport(httpx.ASGITransport(app=create_app("hash-v1")))
    # Both rounds of the first probe, and the re-probe that closes the first reindex.
    faults.when = first_query_probes(3, impostor)
    service: Service = await make_service(fixture_config("http://provider.test"), faults)
    manager = service.app.manager
    assert manager.built_space is not None
    wrong = vector("hash-v2", PROBE_TEXT, "query")
    assert np.allclose(manager.built_space.query_fingerprint, wrong, atol=1e-6)  # the unlucky record

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await service.search.Search(search_pb2.SearchRequest(query="validator", indexes=["eips"]))
    got = failure(caught.value)
    assert got.error_info is not None and got.error_info.reason == "EMBEDDING_SPACE_CHANGED"

    await wait_for(
        manager, lambda: manager.all_ready() and all(s.generation == 2 for s in manager.statuses())
    )
    await asyncio.wait_for(service.app.watcher.settled.wait(), 30)
    right = vector("hash-v1", PROBE_TEXT, "query")
    assert np.allclose(manager.built_space.query_fingerprint, right, atol=1e-6)
    response = await service.search.Search(search_pb2.SearchRequest(query="validator", indexes=["eips"]))
    assert response.hits
    assert_scored_in("validator", response, model="hash-v1")
