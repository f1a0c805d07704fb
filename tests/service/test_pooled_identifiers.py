"""An EIP named by number comes first in a pooled search over the real corpora, in HYBRID and LEXICAL.

Every index at once, as most users search: the EIPs, the consensus specs (which cite EIP numbers
everywhere), the runbooks and the query examples. The EIP folder holds the named EIPs and every
EIP whose text mentions them, the documents that compete with them for the number's words.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from semsearch.api.v1 import search_pb2
from semsearch.proxy.launcher import ProxyProcess
from tests.support.server import Service, fixture_config

REAL_CORPORA = Path(__file__).resolve().parents[2].parent / "shared" / "corpora"
NAMED = ("4844", "1559")

pytestmark = [pytest.mark.corpora, pytest.mark.slow]


def _eips_mentioning(target: Path) -> Path:
    """Links to every real EIP that is, or mentions, one of the named EIPs."""
    target.mkdir()
    for path in sorted((REAL_CORPORA / "eips").glob("eip-*.md")):
        text = path.read_text(encoding="utf-8")
        if any(number in text for number in NAMED):
            (target / path.name).symlink_to(path)
    return target


@pytest.mark.parametrize("mode", [search_pb2.SEARCH_MODE_HYBRID, search_pb2.SEARCH_MODE_LEXICAL])
async def test_an_eip_named_by_number_is_the_first_hit_of_a_pooled_search(
    mode: int, hash_proxy: ProxyProcess, make_service: Any, tmp_path: Path
) -> None:
    if not REAL_CORPORA.is_dir():
        pytest.skip(f"real corpora not found at {REAL_CORPORA.resolve()} (they live outside the repository)")
    eips = _eips_mentioning(tmp_path / "eips")
    indexes = [
        {"name": "eips", "kind": "eip", "path": str(eips)},
        {"name": "specs", "kind": "spec", "path": str(REAL_CORPORA / "consensus-specs")},
        {"name": "runbooks", "kind": "markdown", "path": str(REAL_CORPORA / "panda" / "runbooks")},
        {"name": "examples", "kind": "examples", "path": str(REAL_CORPORA / "panda" / "examples")},
    ]
    service: Service = await make_service(fixture_config(hash_proxy.url, indexes=indexes, batch_size=64))
    assert len(service.app.manager.slots["eips"].documents) > 50  # the named EIPs have company
    for query, wanted in [("EIP-4844", "eip-4844"), ("4844", "eip-4844"), ("eip 1559", "eip-1559")]:
        response = await service.search.Search(search_pb2.SearchRequest(query=query, mode=mode))
        first = response.hits[0]
        assert (first.index, first.document_id, first.pinned) == ("eips", wanted, True), query
