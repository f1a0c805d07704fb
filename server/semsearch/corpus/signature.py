"""A cheap fingerprint of a corpus's files (names, sizes, modification times), to notice edits."""

from __future__ import annotations

import hashlib
from pathlib import Path

from semsearch.corpus.files import find_files, relative_source


def files_signature(root: Path, patterns: tuple[str, ...]) -> str:
    """Changes when a matching file is added, removed, resized or touched; stats only, no reads."""
    digest = hashlib.sha256()
    if not root.is_dir():
        return "missing"
    for path in find_files(root, patterns):
        try:
            stat = path.stat()
        except OSError:
            continue  # vanished between listing and stat: the next look sees the removal
        digest.update(f"{relative_source(path, root)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()
