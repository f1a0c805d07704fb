"""Split markdown into sections at ATX headings, ignoring ``#`` lines inside fenced code."""

from __future__ import annotations

import re
from dataclasses import dataclass

from semsearch.corpus.fences import FenceTracker

_HEADING = re.compile(r"^ {0,3}(?P<marks>#{1,6})(?:[ \t]+(?P<text>.*?))?(?:[ \t]+#+)?[ \t]*$")


@dataclass(frozen=True, slots=True)
class Section:
    level: int  # heading level; 0 for the text before the first boundary heading
    heading: str
    path: tuple[str, ...]  # enclosing boundary headings, outermost first, ending with this one
    body: str  # the text up to the next boundary heading (deeper headings stay in it)

    @property
    def label(self) -> str:
        return " > ".join(self.path)


def parse_heading(line: str) -> tuple[int, str] | None:
    """``(level, text)`` for an ATX heading line, else None. Backticks are dropped from the text."""
    match = _HEADING.match(line) if "#" in line else None
    if not match:
        return None
    return len(match["marks"]), clean_heading(match["text"] or "")


def clean_heading(text: str) -> str:
    # "Modified `get_foo`" reads and filters better as "Modified get_foo".
    return " ".join(text.replace("`", "").split())


def split_sections(markdown: str, max_level: int, *, title_is_first_h1: bool = False) -> list[Section]:
    """Sections at headings of level <= ``max_level``, in document order, empty bodies included.

    With ``title_is_first_h1`` the first ``# `` heading is the document's title: it stays out of
    every path, so its section (the intro) has an empty label.
    """
    sections: list[Section] = []
    stack: list[tuple[int, str, bool]] = []  # (level, heading, part of paths)
    level, heading = 0, ""
    path: tuple[str, ...] = ()
    lines: list[str] = []
    fences = FenceTracker()
    seen_title = not title_is_first_h1

    for line in markdown.split("\n"):
        parsed = None if fences.feed(line) else parse_heading(line)
        if parsed is None or parsed[0] > max_level:
            lines.append(line)
            continue
        sections.append(Section(level, heading, path, "\n".join(lines).strip("\n")))
        level, heading = parsed
        in_path = True
        if level == 1 and not seen_title:
            seen_title, in_path = True, False
        stack = [entry for entry in stack if entry[0] < level]
        stack.append((level, heading, in_path))
        path = tuple(text for _, text, keep in stack if keep)
        lines = []
    sections.append(Section(level, heading, path, "\n".join(lines).strip("\n")))
    return sections


def first_heading(markdown: str, level: int = 1) -> str | None:
    """Text of the first heading of exactly ``level`` outside code, or None."""
    fences = FenceTracker()
    for line in markdown.split("\n"):
        if fences.feed(line):
            continue
        parsed = parse_heading(line)
        if parsed and parsed[0] == level and parsed[1]:
            return parsed[1]
    return None
