"""Pack blocks into chunks of bounded size, cutting inside a block only when it alone is too big.

Sizes are in characters of the joined text (blocks are joined with a blank line). Oversized
blocks are cut at the gentlest boundary that works: code at blank lines then lines (each piece
re-fenced), tables at rows (header repeated), prose at sentence ends then lines, and only then
hard-cut at a space.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace

from semsearch.corpus.blocks import Block
from semsearch.corpus.fences import is_fence_line

SEPARATOR = "\n\n"
# Boundaries from gentlest to roughest; each split keeps the separator at the start of a part.
# A digit before the dot is a list number ("4. ") or a year more often than a sentence end.
_PROSE_LEVELS = (re.compile(r"(?<=[^\d\s][.!?])(?=\s)"), re.compile(r"(?=\n)"))
_CODE_LEVELS = (re.compile(r"(?=\n[ \t]*\n)"), re.compile(r"(?=\n)"))  # blank lines part functions
_TABLE_LEVELS = (re.compile(r"(?=\n)"),)
_LEADING_BLANK_LINES = re.compile(r"\A(?:[ \t]*\n)+")


def join_blocks(blocks: Iterable[Block]) -> str:
    return SEPARATOR.join(block.text for block in blocks)


def pack(blocks: Iterable[Block], limit: int, *, leading_headings: bool = True) -> list[list[Block]]:
    """Greedy packing: each group's joined text is at most ``limit`` characters.

    A heading does not end a group when something follows it: it moves on with the next block.
    With ``leading_headings=False`` a heading that would start a group is dropped instead (the
    caller names the section some other way) and so costs no room.
    """
    groups: list[list[Block]] = []
    current: list[Block] = []

    def start_group() -> bool:
        """Close the current group; its trailing headings move on (or are dropped).

        Returns False if nothing but headings was there to close.
        """
        nonlocal current
        trailing = _trailing_headings(current)
        done = current[: len(current) - len(trailing)]
        if done:
            groups.append(done)
        current = trailing if leading_headings else []
        return bool(done)

    for block in blocks:
        if block.kind == "heading" and not current and not leading_headings:
            continue
        if _size(current, block) <= limit:
            current.append(block)
            continue
        if len(block.text) <= limit:  # fits in a group of its own: not cut, unless its headings
            closed = start_group()  # leave it too little room (then it is cut below)
            if block.kind == "heading" and not current and not leading_headings:
                continue
            if closed and _size(current, block) > limit:
                groups[-1].extend(current)  # the headings cannot come along: they stay behind
                current = []
            if _size(current, block) <= limit:
                current.append(block)
                continue
        # Too big for any group: fill this one's room, unless little is left or the block opens
        # a new section (its first piece belongs with its own heading, not the previous text).
        if _room(current, limit) < limit // 4 or _last_section(current, block.section) != block.section:
            start_group()
            if _room(current, limit) < limit // 4:
                groups.append(current)
                current = []
        pieces = split_block(block, _room(current, limit), limit)
        for piece in pieces[:-1]:
            groups.append([*current, piece])
            current = []
        current.append(pieces[-1])
    if current:
        groups.append(current)
    return groups


def _last_section(blocks: Sequence[Block], default: str) -> str:
    """Section of the last non-heading block (``default`` when there is none)."""
    return next((block.section for block in reversed(blocks) if block.kind != "heading"), default)


def _room(blocks: Sequence[Block], limit: int) -> int:
    return limit - _size(blocks, None) - len(SEPARATOR) if blocks else limit


def _size(blocks: Sequence[Block], extra: Block | None) -> int:
    texts = [block.text for block in blocks] + ([extra.text] if extra else [])
    return sum(map(len, texts)) + len(SEPARATOR) * max(len(texts) - 1, 0)


def _trailing_headings(blocks: list[Block]) -> list[Block]:
    n = 0
    while n < len(blocks) and blocks[len(blocks) - 1 - n].kind == "heading":
        n += 1
    return blocks[len(blocks) - n :]


def split_block(block: Block, first_limit: int, limit: int) -> list[Block]:
    """Cut ``block`` into pieces: the first at most ``first_limit`` chars, the rest at most ``limit``."""
    if len(block.text) <= first_limit:
        return [block]
    if block.kind == "code":
        texts = _split_code(block.text, first_limit, limit)
    elif block.kind == "table":
        texts = _split_table(block.text, first_limit, limit)
    else:
        texts = split_prose(block.text, first_limit, limit)
    return [replace(block, text=text) for text in texts]


def split_prose(text: str, first_limit: int, limit: int) -> list[str]:
    """Cut at sentence ends, then line breaks, hard-cutting only a line longer than the limit."""
    return _split(text, _PROSE_LEVELS, first_limit, limit, keep_indent=False)


def _split_code(text: str, first_limit: int, limit: int) -> list[str]:
    lines = text.split("\n")
    opener = lines[0]
    closer = lines[-1] if len(lines) > 1 and is_fence_line(lines[-1]) else ""
    inner = "\n".join(lines[1:-1] if closer else lines[1:])
    overhead = len(opener) + len(closer) + 2
    if overhead * 4 > first_limit:  # fences would eat the chunk; cut the raw text instead
        return split_prose(text, first_limit, limit)
    pieces = _split(inner, _CODE_LEVELS, first_limit - overhead, limit - overhead, keep_indent=True)
    return [f"{opener}\n{piece}\n{closer}".rstrip("\n") for piece in pieces]


def _split_table(text: str, first_limit: int, limit: int) -> list[str]:
    lines = text.split("\n")
    header = "\n".join(lines[:2])
    overhead = len(header) + 1
    if len(lines) < 3 or overhead * 4 > first_limit:
        return split_prose(text, first_limit, limit)
    rows = "\n".join(lines[2:])
    pieces = _split(rows, _TABLE_LEVELS, first_limit - overhead, limit - overhead, keep_indent=False)
    return [f"{header}\n{piece}" for piece in pieces]


def _split(
    text: str, levels: Sequence[re.Pattern[str]], first_limit: int, limit: int, *, keep_indent: bool
) -> list[str]:
    """Greedy concatenation of the parts ``levels[0]`` cuts ``text`` into; a part that is too
    big on its own is cut with the next level, and past the last level hard-cut."""
    if not levels:
        return _hard_cuts(_clean(text, keep_indent), first_limit, limit)
    pieces: list[str] = []
    current = ""  # parts keep their leading whitespace, so joining restores the original text
    for part in levels[0].split(text):
        cap = limit if pieces else first_limit
        if len(_clean(current + part, keep_indent)) <= cap:
            current += part
            continue
        if _clean(current, keep_indent):
            pieces.append(_clean(current, keep_indent))
            cap = limit
        current = part
        if len(_clean(part, keep_indent)) > cap:
            finer = _split(part, levels[1:], cap, limit, keep_indent=keep_indent)
            pieces.extend(finer[:-1])
            current = finer[-1]
    if _clean(current, keep_indent) or not pieces:
        pieces.append(_clean(current, keep_indent))
    return pieces


def _clean(text: str, keep_indent: bool) -> str:
    # Code keeps the indentation of its first line; only blank lines around it go.
    return _LEADING_BLANK_LINES.sub("", text).rstrip() if keep_indent else text.strip()


def _hard_cuts(text: str, first_limit: int, limit: int) -> list[str]:
    """Cut at the last space (or line break) before the limit, mid-word only if there is none."""
    pieces: list[str] = []
    cap = max(first_limit, 1)
    while len(text) > cap:
        cut = max(text.rfind(" ", 0, cap + 1), text.rfind("\n", 0, cap + 1))
        if cut <= cap // 2:
            cut = cap
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip(" ").lstrip("\n")
        cap = max(limit, 1)
    pieces.append(text)
    return pieces
