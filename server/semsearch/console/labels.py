"""How values read on screen: states with their colours, spaces with a short fingerprint, ages."""

from __future__ import annotations

import time

from google.protobuf import timestamp_pb2
from rich.text import Text

from semsearch.api.v1 import types_pb2
from semsearch_client.messages import fingerprint_digest

STATE_STYLES: dict[int, str] = {
    types_pb2.INDEX_STATE_READY: "bold green",
    types_pb2.INDEX_STATE_PARKED: "bold yellow",
    types_pb2.INDEX_STATE_REBUILDING: "bold cyan",
}
ERROR_STYLE = "red"
TAG_DIGITS = 6  # of a space's fingerprint digest, after its model and dimensions


def state_name(state: int) -> str:
    try:
        return types_pb2.IndexState.Name(state).removeprefix("INDEX_STATE_")  # type: ignore[arg-type]
    except ValueError:  # a newer server's state: show it rather than fail
        return f"STATE_{state}"


def state_text(state: int, suffix: str = "") -> Text:
    return Text(state_name(state) + suffix, style=STATE_STYLES.get(state, "dim"))


def space_tag(space: types_pb2.EmbeddingSpace) -> str:
    """The first six digits of the space's fingerprint digest: enough to tell spaces apart on screen.

    The digest hashes the fingerprint's signs (see EmbeddingSpace.fingerprint_digest), so a
    provider's float noise does not make one space look like two. A server older than the digests
    sent the vector instead: it is digested here the same way.
    """
    return (space.fingerprint_digest or fingerprint_digest(space.fingerprint))[:TAG_DIGITS]


def space_label(space: types_pb2.EmbeddingSpace | None) -> str:
    """``model/dimensions@tag``, or ``-`` for an index never built (or a space not probed yet)."""
    if space is None or not space.model:
        return "-"
    tag = space_tag(space)
    return f"{space.model}/{space.dimensions}" + (f"@{tag}" if tag else "")


def seconds(ts: timestamp_pb2.Timestamp) -> float:
    return ts.seconds + ts.nanos / 1e9


def age(since: float, now: float) -> str:
    """Compact relative time: ``just now``, ``42s ago``, ``3m 5s ago``, ``2h 4m ago``, ``3d ago``."""
    if since <= 0:
        return "-"
    elapsed = int(max(0.0, now - since))
    if elapsed < 1:
        return "just now"
    if elapsed < 60:
        return f"{elapsed}s ago"
    if elapsed < 3600:
        return f"{elapsed // 60}m {elapsed % 60}s ago"
    if elapsed < 86400:
        return f"{elapsed // 3600}h {elapsed % 3600 // 60}m ago"
    return f"{elapsed // 86400}d ago"


def clock(unix: float) -> str:
    """Local wall-clock time of an event, to the second."""
    return time.strftime("%H:%M:%S", time.localtime(unix))


def bar(done: int, total: int, width: int = 30) -> Text:
    """A progress bar that reads the same with or without colour (unlike rich's, which needs colour)."""
    filled = width if total <= 0 else min(width, round(width * done / total))
    text = Text("━" * filled, style="cyan")
    text.append("─" * (width - filled), style="grey37")
    return text


def short_path(source: str, width: int) -> str:
    """``source`` in at most ``width`` cells: the file name (and ``#fragment``) whole when it fits,
    with as many of its closest folders as fit after ``…/``; a name longer than the width keeps
    its start and its end (usually the extension)."""
    if len(source) <= width:
        return source
    path, hash_sign, fragment = source.partition("#")  # a fragment may hold slashes too
    head, slash, name = path.rpartition("/")
    name += hash_sign + fragment
    if len(name) + 2 > width or not slash:
        if width < 3:
            return source[:width]
        keep = width - 1
        return name[: keep - keep // 2] + "…" + name[len(name) - keep // 2 :]
    kept = name
    for folder in reversed(head.split("/")):
        if len(folder) + 1 + len(kept) + 2 > width:
            break
        kept = f"{folder}/{kept}"
    return f"…/{kept}"
