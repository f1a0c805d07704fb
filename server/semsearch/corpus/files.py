"""Finding and reading a corpus's files, in an order that does not depend on the filesystem."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from semsearch.corpus.model import CorpusError


def find_files(root: Path, patterns: Iterable[str]) -> list[Path]:
    """Files under ``root`` matching any glob pattern, recursively, sorted by relative path.

    Hidden folders and files (".git", ".github", ...) are repository plumbing, not corpus.
    """
    found: set[Path] = set()
    for pattern in patterns:
        for path in root.rglob(pattern):
            relative = path.relative_to(root)
            if path.is_file() and not any(part.startswith(".") for part in relative.parts):
                found.add(path)
    return sorted(found, key=lambda path: relative_source(path, root))


def relative_source(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def read_text(path: Path, source: str) -> str:
    """UTF-8 text with a BOM dropped and line endings normalised to "\\n"."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{source}: not UTF-8 text: {exc}") from exc
    except OSError as exc:
        raise CorpusError(f"{source}: cannot read: {exc}") from exc
    return text.replace("\r\n", "\n").replace("\r", "\n")
