"""Human-readable and JSON rendering of responses for the command line."""

from __future__ import annotations

import json
import sys
from typing import Any

from google.protobuf import json_format

from semsearch.api.v1 import admin_pb2, search_pb2, types_pb2


def _json(message: Any) -> None:
    print(json.dumps(json_format.MessageToDict(message), indent=2, ensure_ascii=False))


def print_search(response: search_pb2.SearchResponse, as_json: bool = False) -> None:
    if as_json:
        _json(response)
        return
    space = response.query_space
    print(f"{len(response.hits)} hits (query embedded in {space.model}/{space.dimensions})")
    for rank, hit in enumerate(response.hits, 1):
        section = f" › {hit.section}" if hit.section else ""
        print(f"{rank:>2}. {hit.score:.3f}  [{hit.index}] {hit.title}{section}")
        print(f"      {hit.snippet}")
        print(f"      {hit.source}")
    for missing in response.unavailable_indexes:
        print(f"unavailable: {missing.index} ({missing.reason}): {missing.message}", file=sys.stderr)


def print_indexes(response: admin_pb2.ListIndexesResponse, as_json: bool = False) -> None:
    if as_json:
        _json(response)
        return
    rows = [("INDEX", "KIND", "STATE", "SPACE", "GEN", "DOCS", "CHUNKS", "LAST ERROR")]
    for ix in response.indexes:
        state = types_pb2.IndexState.Name(ix.state).removeprefix("INDEX_STATE_")
        if ix.HasField("progress"):
            state += f" {ix.progress.chunks_done}/{ix.progress.chunks_total}"
        space = f"{ix.space.model}/{ix.space.dimensions}" if ix.HasField("space") else "-"
        rows.append(
            (
                ix.name,
                ix.kind,
                state,
                space,
                str(ix.generation),
                str(ix.document_count),
                str(ix.chunk_count),
                ix.last_error or "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
