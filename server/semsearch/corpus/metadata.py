"""Front-matter and YAML values flattened to the ``dict[str, str]`` that chunks carry."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping


def metadata_value(value: object) -> str | None:
    """A string for scalars (dates ISO, booleans lowercase) and lists ("a, b"); None otherwise."""
    if value is None or isinstance(value, Mapping):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):  # datetime is a date too
        return value.isoformat()
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list | tuple):
        items = (metadata_value(item) for item in value if not isinstance(item, list | tuple))
        return ", ".join(item for item in items if item)
    return None


def comma_list(value: object) -> str | None:
    """Normalise "1, 2", "1,2", 1 and [1, 2] alike to "1, 2"."""
    text = metadata_value(value)
    if text is None:
        return None
    return ", ".join(part.strip() for part in text.split(",") if part.strip())


def scalar_metadata(fields: Mapping[str, object], exclude: Collection[str] = ()) -> dict[str, str]:
    """Every scalar or list field not in ``exclude``; nested mappings and nulls are left out."""
    out: dict[str, str] = {}
    for key, value in fields.items():
        if key in exclude:
            continue
        text = metadata_value(value)
        if text is not None:
            out[key] = text
    return out
