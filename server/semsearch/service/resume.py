"""Resume tokens of WatchIndexes: which event log a position belongs to, and the position.

Opaque to clients; a token of another log (a restarted single server has a new one) is not an
error, it only cannot resume: the stream starts with a snapshot.
"""

from __future__ import annotations

import re

from semsearch.errors import InvalidArgument

_TOKEN = re.compile(r"^([0-9a-f]{1,64})\.(\d{1,19})$")


def resume_token(log_id: str, sequence: int) -> str:
    return f"{log_id}.{sequence}"


def parse_resume_token(token: str) -> tuple[str, int]:
    """(log id, position); InvalidArgument when the token was not made by ``resume_token``."""
    match = _TOKEN.match(token)
    if match is None:
        raise InvalidArgument(
            "INVALID_RESUME_TOKEN",
            "resume_token",
            "resume_token must be the resume_token of a message received",
        )
    return match.group(1), int(match.group(2))
