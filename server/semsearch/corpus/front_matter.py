"""Optional YAML front matter (``---`` ... ``---``) at the top of a markdown file."""

from __future__ import annotations

import re

import yaml

from semsearch.corpus.model import CorpusError
from semsearch.corpus.yaml_safe import safe_load

# The closing line may also be "..." (YAML's document end marker).
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(?P<yaml>(?:.*?\n)??)(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)


def split_front_matter(text: str, source: str) -> tuple[dict[str, object], str]:
    """Return ``(fields, body)``.

    A file without front matter, or whose front matter is not a mapping (a leading horizontal
    rule followed by prose parses as a YAML string), comes back unchanged with no fields.
    """
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    try:
        fields = safe_load(match["yaml"])
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        raise CorpusError(f"{source}: malformed front matter: {detail}") from exc
    body = text[match.end() :]
    if fields is None:  # "---\n---": empty, but still front matter
        return {}, body
    if not isinstance(fields, dict):
        return {}, text
    return {str(key): value for key, value in fields.items()}, body
