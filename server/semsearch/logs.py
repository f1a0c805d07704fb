"""Structured logging: one line per event, as ``key=value`` text or JSON.

Library code logs through :func:`event` so every line carries an event name and typed fields;
:func:`configure` chooses the output format once, at start-up.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

_FIELDS = "semsearch_fields"


def event(
    logger: logging.Logger, name: str, level: int = logging.INFO, exc_info: bool = False, **fields: Any
) -> None:
    """Log one event with structured fields (``exc_info`` folds the current traceback into the line)."""
    if logger.isEnabledFor(level):
        logger.log(level, name, exc_info=exc_info, extra={_FIELDS: fields})


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    data: dict[str, Any] = {
        "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
        "level": record.levelname.lower(),
        "logger": record.name,
        "event": record.getMessage(),
    }
    data.update(getattr(record, _FIELDS, {}))
    if record.exc_info:
        data["exc"] = logging.Formatter().formatException(record.exc_info).replace("\n", " | ")
    return data


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(record), default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``ts level logger event key=value ...`` on one line; values with spaces are quoted."""

    def format(self, record: logging.LogRecord) -> str:
        data = _fields(record)
        head = f"{data.pop('ts')} {data.pop('level'):<7} {data.pop('logger')} {data.pop('event')}"
        parts = [head]
        for key, value in data.items():
            text = str(value).replace("\n", " | ")
            parts.append(f"{key}={json.dumps(text) if (' ' in text or not text) else text}")
        return " ".join(parts)


def configure(level: str = "info", fmt: str = "text") -> None:
    """Send every log record to stderr in the chosen format (idempotent)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn and httpx log per request; keep them at warning so our events stay readable.
    for noisy in ("uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
