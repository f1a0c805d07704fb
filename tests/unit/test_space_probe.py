"""Probing the provider's space: both probes (document and query) must come from one model.

A provider that switches models between the probe's requests could otherwise pair one model's
document probe with another's query probe, and the space would then admit that other model's
queries against indexes built by the first.
"""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from semsearch.embeddings import PROBE_TEXT, EmbeddingProvider, EmbeddingSpace, SpaceMoved, probe_space
from semsearch.proxy.app import create_app
from tests.support.faults import Action, FaultTransport, edited
from tests.support.oracle import Task, vector


def impostor(model: str = "hash-v2", name: str = "hash-v1") -> Action:
    """An answer from ``model`` that calls itself ``name``: a swap behind an unchanged name."""
    return edited(httpx.ASGITransport(app=create_app(model)), lambda answer: answer.update(model=name))


def provider(transport: httpx.AsyncBaseTransport) -> EmbeddingProvider:
    return EmbeddingProvider("http://provider.test/v1", "hash-v1", transport=transport)


def probe_of(model: str, task: Task) -> tuple[float, ...]:
    """The probe text's vector as the hash model embeds it for ``task``."""
    return tuple(float(x) for x in vector(model, PROBE_TEXT, task))


@pytest.fixture
def faults() -> FaultTransport:
    return FaultTransport(httpx.ASGITransport(app=create_app("hash-v1")))


async def test_a_new_space_takes_two_rounds_that_agree(faults: FaultTransport) -> None:
    client = provider(faults)
    space = await probe_space(client)
    await client.aclose()
    assert faults.count == 4
    assert (space.model, space.dimensions) == ("hash-v1", 384)
    np.testing.assert_allclose(space.fingerprint, probe_of("hash-v1", "document"), atol=1e-6)
    np.testing.assert_allclose(space.query_fingerprint, probe_of("hash-v1", "query"), atol=1e-6)


@pytest.mark.parametrize("swapped", [1, 2, 3, 4])
async def test_one_answer_from_another_model_anywhere_in_the_probe_is_refused(
    faults: FaultTransport, swapped: int
) -> None:
    faults.rules[swapped] = impostor()
    client = provider(faults)
    with pytest.raises(SpaceMoved, match="while being probed"):
        await probe_space(client)
    await client.aclose()


async def test_a_swap_and_back_between_the_first_requests_is_refused(faults: FaultTransport) -> None:
    # Document, query, document: the second request alone from the other model, the old model back
    # for the third. One round could not tell; the second round's query probe can.
    faults.rules[2] = impostor()
    client = provider(faults)
    with pytest.raises(SpaceMoved):
        await probe_space(client)
    await client.aclose()
    assert faults.count == 4


async def test_a_known_space_is_confirmed_in_two_requests_and_kept_as_is(faults: FaultTransport) -> None:
    client = provider(faults)
    known = await probe_space(client)
    again = await probe_space(client, known)
    await client.aclose()
    assert again is known and faults.count == 6


async def test_a_recorded_query_probe_from_another_model_is_replaced_and_counts_as_a_change(
    faults: FaultTransport,
) -> None:
    # What an unlucky probe could once record: hash-v1's document probe with hash-v2's query probe.
    wrong = EmbeddingSpace(
        "hash-v1", 384, probe_of("hash-v1", "document"), query_fingerprint=probe_of("hash-v2", "query")
    )
    client = provider(faults)
    space = await probe_space(client, wrong)
    await client.aclose()
    assert faults.count == 4  # the known query probe did not match: a full second round
    np.testing.assert_allclose(space.query_fingerprint, probe_of("hash-v1", "query"), atol=1e-6)
    assert not space.same_as(wrong) and not wrong.same_as(space)


def test_identity_compares_query_probes_only_where_both_sides_have_one() -> None:
    document = probe_of("hash-v1", "document")
    full = EmbeddingSpace("hash-v1", 384, document, probe_of("hash-v1", "query"))
    other_query = EmbeddingSpace("hash-v1", 384, document, probe_of("hash-v2", "query"))
    unprobed_query = EmbeddingSpace("hash-v1", 384, document)
    assert full.same_as(unprobed_query) and unprobed_query.same_as(full)
    assert not full.same_as(other_query)
