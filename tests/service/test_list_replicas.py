"""ListReplicas on a server that runs alone: it lists itself, as the indexer, with what it serves."""

from __future__ import annotations

from semsearch.api.v1 import admin_pb2
from tests.support.server import Service


async def test_a_server_alone_lists_itself_as_the_indexer(service: Service) -> None:
    listed = (await service.admin.ListReplicas(admin_pb2.ListReplicasRequest())).replicas
    assert len(listed) == 1
    me = listed[0]
    assert me.name == f"127.0.0.1:{service.app.port}" and me.indexer and me.answering
    assert dict(me.serving) == {name: slot.generation for name, slot in service.app.manager.slots.items()}
    assert me.log_sequence == service.app.manager.bus.latest_sequence > 0
