"""``semsearch status``: every index with its state, and the provider's embedding space.

``semsearch indexes`` is the table alone, in the shape scripts already read (a header line and one
line per index when piped; ``--json`` is the ListIndexes response).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from semsearch.api.v1 import admin_pb2
from semsearch.console.options import client_parser

if TYPE_CHECKING:
    from semsearch.console.session import Session


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> list[str]:
    status = client_parser(sub, "status", "show every index of the running server and the embedding space")
    status.add_argument("--json", action="store_true", help="print indexes and spaces as one JSON document")
    indexes = client_parser(sub, "indexes", "list the indexes of the running server (the table of status)")
    indexes.add_argument("--json", action="store_true", help="print the ListIndexes response as JSON")
    return ["status", "indexes"]


def run(args: argparse.Namespace) -> int:
    from semsearch.console.session import run_command

    return run_command(_status, args)


async def _status(session: Session, args: argparse.Namespace) -> int:
    import time

    from rich.console import Group
    from rich.text import Text

    from semsearch.api.v1 import admin_pb2, types_pb2
    from semsearch.console.contract import typed, typed_all
    from semsearch.console.exits import EXIT_OK
    from semsearch.console.output import as_dict
    from semsearch.console.replicas import replicas_table
    from semsearch.console.tables import indexes_table, space_lines

    indexes = typed_all(await session.client.list_indexes(), types_pb2.Index)
    listing = admin_pb2.ListIndexesResponse(indexes=indexes)
    table = indexes_table(listing.indexes, time.time(), boxed=session.out.terminal)
    if args.command == "indexes":
        if args.json:
            session.out.json(as_dict(listing))
        else:
            session.out.show(table)
        return EXIT_OK
    space = typed(await session.client.get_embedding_space(), admin_pb2.GetEmbeddingSpaceResponse)
    replicas = await _replicas(session)
    if args.json:
        shown = {**as_dict(listing), "embeddingSpace": as_dict(_named_only(space))}
        if len(replicas) > 1:
            shown["replicas"] = [as_dict(r) for r in replicas]
        session.out.json(shown)
        return EXIT_OK
    parts = [table, Text(""), space_lines(space, time.time(), listing.indexes)]
    if len(replicas) > 1:  # several replicas share one store: who indexes, who serves what
        parts += [Text(""), replicas_table(replicas, time.time())]
    session.out.show(Group(*parts))
    return EXIT_OK


async def _replicas(session: Session) -> list[admin_pb2.Replica]:
    """The replicas of the deployment; none from a server that predates ListReplicas."""
    import grpc

    from semsearch.console.contract import typed_all
    from semsearch_client import SemsearchError

    try:
        return typed_all(await session.client.list_replicas(), admin_pb2.Replica)
    except SemsearchError as exc:
        if exc.code is grpc.StatusCode.UNIMPLEMENTED:
            return []
        raise


def _named_only(response: admin_pb2.GetEmbeddingSpaceResponse) -> admin_pb2.GetEmbeddingSpaceResponse:
    """The spaces named by model, dimensions and digests, as every other answer names them: the
    fingerprint vectors (hundreds of numbers each) stay with GetEmbeddingSpace for who asks."""
    named = type(response)()
    named.CopyFrom(response)
    spaces = [named.provider_space, named.built_space, named.migration.target_space]
    for space, present in zip(spaces, _presence(named), strict=True):
        if present:  # clearing a field of an unset space would set it
            space.ClearField("fingerprint")
            space.ClearField("query_fingerprint")
    return named


def _presence(response: admin_pb2.GetEmbeddingSpaceResponse) -> list[bool]:
    migration = response.HasField("migration") and response.migration.HasField("target_space")
    return [response.HasField("provider_space"), response.HasField("built_space"), migration]
