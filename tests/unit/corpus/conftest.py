"""Fixtures for the corpus tests: the invented fixture corpora, and the real corpora if present."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
FIXTURE_CORPORA = REPO_ROOT / "tests" / "fixtures" / "corpora"
REAL_CORPORA = REPO_ROOT / ".." / "shared" / "corpora"

assert (REPO_ROOT / "pyproject.toml").is_file(), f"{REPO_ROOT} is not the repository root"


@pytest.fixture
def fixture_corpora() -> Path:
    """``tests/fixtures/corpora``: one folder per corpus kind."""
    return FIXTURE_CORPORA


@pytest.fixture
def real_corpora() -> Path:
    """``<repo>/../shared/corpora``; tests using it are skipped on machines without it."""
    if not REAL_CORPORA.is_dir():
        pytest.skip(f"real corpora not found at {REAL_CORPORA.resolve()} (they live outside the repository)")
    return REAL_CORPORA.resolve()
