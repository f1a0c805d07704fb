"""A handful of small operations documents, and paraphrased questions each should answer first."""

from __future__ import annotations

from pathlib import Path

DOCS = {
    "validator-restart.md": (
        "# Restarting a stuck validator\n\n## Symptoms\n\nThe validator client stops attesting and "
        "proposing; its logs show no new duties for several epochs.\n\n## Fix\n\nRestart the validator "
        "client process, then confirm that attestations resume within two epochs.\n"
    ),
    "disk-full.md": (
        "# Database disk full\n\n## Symptoms\n\nWrites fail with 'no space left on device' and the "
        "database refuses new connections.\n\n## Fix\n\nDelete old write-ahead-log segments, vacuum the "
        "largest tables, then grow the volume.\n"
    ),
    "tls-rotation.md": (
        "# Rotating TLS certificates\n\n## Steps\n\nIssue a new certificate from the internal CA, deploy it "
        "beside the old one, reload the proxy, and revoke the old certificate after a day.\n"
    ),
    "backups.md": (
        "# Nightly backups\n\n## Schedule\n\nA snapshot of every volume is taken at 02:00 UTC and kept for "
        "thirty days in the object store.\n"
    ),
}

PARAPHRASES = [
    ("my node quit voting on blocks, how do I get it going again?", "validator-restart"),
    ("the storage volume for postgres has run out of room", "disk-full"),
    ("how do we replace expiring certificates?", "tls-rotation"),
]


def write_docs(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in DOCS.items():
        (folder / name).write_text(text)
    return folder
