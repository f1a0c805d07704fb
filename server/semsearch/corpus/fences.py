"""Fenced code blocks (``` and ~~~): the one place that knows where code starts and ends.

Headings, paragraphs, tables and HTML comments inside a fence are code, not structure, so every
line-oriented pass over markdown asks a :class:`FenceTracker` first.
"""

from __future__ import annotations

import re

# An opening fence may follow list markers ("1. ```" is a code block inside a list item). A
# backtick fence's info string cannot contain backticks, so "```x```" stays inline code.
_OPEN = re.compile(r"^\s*(?:(?:[-*+]|\d{1,9}[.)])\s+)*(?P<fence>`{3,}(?=[^`]*$)|~{3,})")
_CLOSE = re.compile(r"^\s*(?P<fence>`{3,}|~{3,})\s*$")


class FenceTracker:
    """Feed lines in order; tells whether each line belongs to a fenced code block."""

    def __init__(self) -> None:
        self._fence = ""  # the opening fence while inside a block, else ""

    @property
    def inside(self) -> bool:
        return bool(self._fence)

    def feed(self, line: str) -> bool:
        """Return True if ``line`` is part of a fenced block (its opening and closing lines included)."""
        if self._fence:
            match = _CLOSE.match(line) if self._fence[0] in line else None
            if match:
                fence = match["fence"]
                # CommonMark: same character, at least as long as the opening fence.
                if fence[0] == self._fence[0] and len(fence) >= len(self._fence):
                    self._fence = ""
            return True
        match = _OPEN.match(line) if "```" in line or "~~~" in line else None
        if match:
            self._fence = match["fence"]
            return True
        return False


def is_fence_line(line: str) -> bool:
    """True if ``line`` could open or close a fence on its own (used to unwrap split code)."""
    return bool(_OPEN.match(line) or _CLOSE.match(line))
