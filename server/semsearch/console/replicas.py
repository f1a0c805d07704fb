"""The replicas part of ``semsearch status``: shown when several replicas share one store."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text

from semsearch.api.v1 import admin_pb2
from semsearch.console.labels import age, seconds


def replicas_table(replicas: Sequence[admin_pb2.Replica], now: float) -> Table:
    """One row per replica: the lease holder marked, what it serves, how recently it reported."""
    table = Table(box=None, header_style="bold", show_edge=False, pad_edge=False, padding=(0, 2, 0, 0))
    for header in ("REPLICA", "ROLE", "LOG", "SERVING", "SEEN"):
        table.add_column(header, no_wrap=header != "SERVING")
    for replica in replicas:
        role = "indexer" if replica.indexer else "follower"
        name = replica.name + (" (this one)" if replica.answering else "")
        serving = ", ".join(f"{index} g{generation}" for index, generation in sorted(replica.serving.items()))
        table.add_row(
            Text(name),
            Text(role, style="bold" if replica.indexer else ""),
            Text(str(replica.log_sequence)),
            Text(serving or "nothing yet"),
            Text(age(seconds(replica.seen_at), now)),
        )
    return table
