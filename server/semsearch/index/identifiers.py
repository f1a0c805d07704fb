"""The identifier table of an index: which documents a query names, for pinning them first.

What names a document depends on the corpus kind:

- ``eip``: its number. With a prefix ("EIP-4844", "eip 4844", "EIP4844", "ERC-20") anywhere in the
  query; bare ("4844") only in a short query of at most ``BARE_NUMBER_WORDS`` words, so that a
  quantity in a sentence ("raise the limit to 1000 gas") does not pin EIP-1000.
- ``markdown``: its name (front matter ``name``), its id, or its file name: "Database Disk Full",
  "database-disk-full" or "database_disk_full".
- ``examples``: the example's name ("Disk usage percent"); every example of that name is pinned.
- ``spec``: its path without ".md" ("deneb/fork-choice", "deneb fork choice").

Names are compared as slugs (lowercase words joined by "-"), so case and punctuation do not matter,
and must appear as consecutive whole words of the query. A one-word name pins only when it is the
whole query: one common word in a sentence does not name a document.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath

from semsearch.corpus import Chunk
from semsearch.corpus.ids import slugify

BARE_NUMBER_WORDS = 3
MAX_NAME_WORDS = 12  # longer names are not looked for (a query would not spell them out anyway)

_PREFIXED_NUMBER = re.compile(r"\b(?:eip|erc)[\s_-]*(\d+)\b", re.IGNORECASE)
_BARE_NUMBER = re.compile(r"(?<![\w.])(\d+)(?![\w.])")
_WORDS = re.compile(r"\w+")
_FEATURES_PREFIX = "_features/"


class Identifiers:
    """The documents of one index by the identifiers that name them."""

    def __init__(self, kind: str, chunks: Sequence[Chunk], enabled: bool = True) -> None:
        self.kind = kind
        self.enabled = enabled
        self._numbers: dict[int, list[str]] = {}
        self._names: dict[str, list[str]] = {}  # slug -> document ids, in corpus order
        if not enabled:
            return
        firsts = {chunk.document_id: chunk for chunk in reversed(chunks)}  # each document's first chunk
        for document_id in dict.fromkeys(chunk.document_id for chunk in chunks):
            chunk = firsts[document_id]
            if kind == "eip":
                number = chunk.metadata.get("eip", "")
                if number.isdigit():
                    self._numbers.setdefault(int(number), []).append(document_id)
            else:
                for slug in dict.fromkeys(_names(kind, chunk)):
                    if slug and len(slug.split("-")) <= MAX_NAME_WORDS:
                        self._names.setdefault(slug, []).append(document_id)

    def named_in(self, query: str) -> list[str]:
        """Ids of the documents ``query`` names, in the order it names them (each once)."""
        if not self.enabled:
            return []
        found = self._by_number(query) if self.kind == "eip" else self._by_name(query)
        return list(dict.fromkeys(found))

    def _by_number(self, query: str) -> list[str]:
        positions = [(m.start(), int(m.group(1))) for m in _PREFIXED_NUMBER.finditer(query)]
        if len(_WORDS.findall(query)) <= BARE_NUMBER_WORDS:
            positions += [(m.start(), int(m.group(1))) for m in _BARE_NUMBER.finditer(query)]
        return [doc for _, number in sorted(positions) for doc in self._numbers.get(number, [])]

    def _by_name(self, query: str) -> list[str]:
        words = slugify(query, fallback="").split("-")
        if not words[0]:
            return []
        whole = "-".join(words)
        found: list[str] = list(self._names.get(whole, []))
        for start in range(len(words)):
            for end in range(start + 2, min(len(words), start + MAX_NAME_WORDS) + 1):
                found.extend(self._names.get("-".join(words[start:end]), []))
        return found


def _names(kind: str, chunk: Chunk) -> Iterable[str]:
    if kind == "markdown":
        yield slugify(chunk.document_id, fallback="")
        yield slugify(chunk.metadata.get("name", ""), fallback="")
        yield slugify(PurePosixPath(chunk.source).stem, fallback="")
    elif kind == "examples":
        yield slugify(chunk.title, fallback="")
    elif kind == "spec":
        yield slugify(chunk.document_id, fallback="")
        yield slugify(chunk.document_id.removeprefix(_FEATURES_PREFIX), fallback="")
