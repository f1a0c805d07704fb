"""Text → search terms for the lexical index: the same function for chunks and queries.

Words are lowercased and stemmed (English Snowball), so "rebuilding" finds "rebuild". Identifiers
are kept whole *and* split into their parts, so both "blob_sidecar" and "blob sidecar" find
``blob_sidecar``, "LightClientSnapshot" finds "light client snapshot", and "EIP-4844", "eip4844"
and "4844" all share the term "4844". Common English words are dropped.
"""

from __future__ import annotations

import re
import threading
import unicodedata

import Stemmer
from bm25s.stopwords import STOPWORDS_EN_PLUS

_WORD = re.compile(r"\w+")
# Parts of an ASCII identifier: snake_case, camelCase / PascalCase, letters next to digits.
_PARTS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_UNDERSCORES = re.compile(r"[^_]+")
_HEX = re.compile(r"0x[0-9a-f]+", re.IGNORECASE)  # an opcode or address: one term, never digits
_STOPWORDS = frozenset(STOPWORDS_EN_PLUS)  # the usual English list (NLTK's)
# One stemmer per thread: lexical indexes are built in worker threads while queries run on the loop.
_local = threading.local()


def _stemmer() -> Stemmer.Stemmer:
    stemmer: Stemmer.Stemmer | None = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = Stemmer.Stemmer("english")
    return stemmer


def _keep(term: str) -> bool:
    return (len(term) > 1 or term.isdigit()) and term not in _STOPWORDS


def terms(text: str) -> list[str]:
    """The terms of ``text`` in order, identifiers followed by their parts."""
    out: list[str] = []
    for word in _WORD.findall(unicodedata.normalize("NFKC", text)):
        whole = word.lower()
        if _keep(whole):
            out.append(whole)
        if _HEX.fullmatch(word):
            continue
        parts = [p.lower() for p in (_PARTS if word.isascii() else _UNDERSCORES).findall(word)]
        if len(parts) > 1:  # a one-character part ("a1" -> "1") is noise, not a word
            out.extend(part for part in parts if len(part) > 1 and _keep(part))
    return _stemmer().stemWords(out)  # type: ignore[no-any-return]
