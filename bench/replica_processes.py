"""`semsearch serve` replicas as child processes, as they run in a deployment: a config file, the
address each one bound, and every event it logged with the wall-clock time it logged it.

A replica is the test suite's own ``ServerProcess`` (``tests/support/process.py``), started with
``start_replica`` and stopped with its ``stop`` (SIGTERM: it releases its lease and drains).
Times are unix seconds (the log's ``ts``, millisecond resolution), so they compare with
PostgreSQL's ``now()`` on the same machine.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.support.process import ServerProcess, start_server, toml_value

Replica = ServerProcess
Event = dict[str, Any]


def write_config(path: Path, raw: Mapping[str, Any]) -> Path:
    """A TOML file of a raw config (``parse_config``'s input): its tables, then its ``[[index]]``
    entries; values are strings, numbers and booleans."""
    lines: list[str] = []
    tables = [(f"[{name}]", values) for name, values in raw.items() if name != "index"]
    for header, values in [*tables, *(("[[index]]", ix) for ix in raw.get("index", ()))]:
        lines.append(header)
        lines += [f"{key} = {toml_value(value)}" for key, value in values.items()]
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def logged_at(item: Event) -> float:
    """The unix time of a JSON log line (``ts`` is UTC with milliseconds)."""
    return datetime.strptime(item["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


async def start_replica(config: Path, startup_timeout: float = 300.0) -> Replica:
    """``semsearch serve --config config`` on a free loopback port, JSON logs; returns once it serves
    gRPC (its indexes may still be loading)."""
    return await start_server(config, startup_timeout)
