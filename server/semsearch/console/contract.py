"""The client's answers, typed as the console's renderers name the contract's messages.

The client library and the server each ship the code generated from proto/semsearch/v1. Both
register the same descriptors, so protobuf builds one class per message: what ``semsearch_client``
returns *is* an instance of the class ``semsearch.api.v1`` names, in which the renderers (tables,
labels, the watch view) are typed. Only the type checker sees two classes; ``typed`` hands a message
over with a run-time check instead of a cast.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from google.protobuf.message import Message

M = TypeVar("M", bound=Message)


def typed(message: Message, kind: type[M]) -> M:
    """``message`` as a ``kind``; TypeError if it is another message (a bug, not a server answer)."""
    if not isinstance(message, kind):
        raise TypeError(f"expected {kind.DESCRIPTOR.full_name}, got {message.DESCRIPTOR.full_name}")
    return message


def typed_all(messages: Iterable[Message], kind: type[M]) -> list[M]:
    return [typed(message, kind) for message in messages]
