"""Stable, readable identifiers: slugs, and numeric suffixes for repeats."""

from __future__ import annotations

import re
import unicodedata

_NON_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(text: str, fallback: str = "untitled") -> str:
    """Lowercase ASCII words joined by "-": "Check Service Health!" -> "check-service-health"."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _NON_SLUG.sub("-", ascii_text.lower()).strip("-") or fallback


class UniqueIds:
    """Hands out ids in input order; a repeated base gets "-2", "-3", ... so ids stay stable."""

    def __init__(self) -> None:
        self._taken: set[str] = set()

    def claim(self, base: str) -> str:
        candidate, n = base, 1
        while candidate in self._taken:
            n += 1
            candidate = f"{base}-{n}"
        self._taken.add(candidate)
        return candidate
