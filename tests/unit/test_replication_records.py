"""A state change survives the shared log: written as JSON, read back equal."""

from __future__ import annotations

import json

from semsearch.embeddings.space import EmbeddingSpace
from semsearch.lifecycle import IndexState, IndexStatus, MigrationPhase, MigrationStatus, Progress, Shadow
from semsearch.lifecycle.events import StateChange
from semsearch.replication.records import change_of, change_record, space_of, space_record

SPACE = EmbeddingSpace("hash-v1", 4, (0.5, 0.5, 0.5, 0.5), (1.0, 0.0, 0.0, 0.0))
TARGET = EmbeddingSpace("hash-v2", 4, (0.0, 1.0, 0.0, 0.0))


def test_a_change_with_every_field_round_trips_through_json() -> None:
    status = IndexStatus(
        name="eips",
        kind="eip",
        state=IndexState.REBUILDING,
        index=None,
        space=SPACE,
        document_count=4,
        chunk_count=9,
        generation=7,
        state_since=1_700_000_000.25,
        last_error="provider timed out",
        progress=Progress(3, 9, 2, rate=12.5, seconds_left=0.5),
        shadow=Shadow(TARGET, 8, Progress(1, 9, 0), built=False),
    )
    migration = MigrationStatus(
        MigrationPhase.BUILDING, "hash-v1", "hash-v2", TARGET, "planned", Progress(1, 30, 0), 0, 4, 1.5
    )
    change = StateChange(
        41, "eips", IndexState.PARKED, IndexState.REBUILDING, "rebuilding", status, 2.5, migration, 3
    )
    record = json.loads(json.dumps(change_record(change)))  # what the database stores and returns
    assert change_of(41, record) == change


def test_a_space_round_trips_and_an_unprobed_one_too() -> None:
    assert space_of(json.loads(json.dumps(space_record(SPACE)))) == SPACE
    bare = EmbeddingSpace("m", 3)
    assert space_of(space_record(bare)) == bare
