"""Provider failures in words: what a ProviderError's message says, never an exception's repr.

A client reads these messages (in a refused search, in an index's ``last_error``), so each one is a
sentence about the provider, e.g. "provider timed out after 10s: no complete answer in time",
not "TimeoutError()".
"""

from __future__ import annotations

import json
import re

import httpx

_ERRNO = re.compile(r"^\[Errno -?\d+\]\s*")

# What a timeout of each kind means, for the httpx timeouts that carry no useful text of their own.
_TIMEOUTS: dict[type[BaseException], str] = {
    httpx.ConnectTimeout: "it accepted no connection in time",
    httpx.WriteTimeout: "the request could not be sent in time",
    httpx.PoolTimeout: "no connection to it came free in time",
}
NO_ANSWER_IN_TIME = "no complete answer in time"

# For exceptions raised without a message: what their kind says.
_KINDS: tuple[tuple[type[BaseException], str], ...] = (
    (httpx.ConnectError, "the connection failed"),
    (httpx.ReadError, "the connection failed while reading the answer"),
    (httpx.WriteError, "the connection failed while sending the request"),
    (httpx.RemoteProtocolError, "the answer broke the HTTP protocol"),
    (httpx.DecodingError, "the answer's body could not be decoded"),
    (httpx.TransportError, "the connection failed"),
    (ConnectionError, "the connection failed"),
    (RecursionError, "the answer is nested too deeply to read"),
)


def reason(exc: BaseException) -> str:
    """The exception's own message (without an ``[Errno n]`` prefix), or a phrase for its kind."""
    text = _ERRNO.sub("", str(exc).strip())
    if text and not _looks_like_repr(text, exc):
        return text
    for kind, phrase in _KINDS:
        if isinstance(exc, kind):
            return phrase
    return "an unexpected error"


def timeout_reason(exc: BaseException) -> str:
    """Why a request timed out, in words."""
    for kind, phrase in _TIMEOUTS.items():
        if isinstance(exc, kind):
            return phrase
    return NO_ANSWER_IN_TIME


def malformed_reason(exc: BaseException) -> str:
    """What is wrong with an embeddings answer that could not be read."""
    if isinstance(exc, json.JSONDecodeError):
        return f"the body is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
    if isinstance(exc, KeyError):
        return f"it has no {_key(exc)} field"
    if isinstance(exc, RecursionError):
        return "it is nested too deeply to read"
    if isinstance(exc, TypeError | ValueError):
        return f"a field has the wrong type ({reason(exc)})"
    return reason(exc)


def _key(exc: KeyError) -> str:
    return repr(exc.args[0]) if exc.args else "expected"


def _looks_like_repr(text: str, exc: BaseException) -> bool:
    """True for text that only names the exception (``TimeoutError()``, ``ReadError('')``)."""
    return text.startswith(f"{type(exc).__name__}(") or text in {"''", '""'}
