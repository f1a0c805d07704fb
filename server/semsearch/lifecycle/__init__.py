"""Index slots, their state machine, the builder loop and the event bus."""

from semsearch.lifecycle.events import EventBus, StateChange, Subscription
from semsearch.lifecycle.generation import ServingGeneration
from semsearch.lifecycle.manager import IndexManager
from semsearch.lifecycle.migration import Migrator, Regime
from semsearch.lifecycle.migration_status import MigrationPhase, Migrations, MigrationStatus
from semsearch.lifecycle.slot import IndexSlot, IndexStatus, Progress, Shadow
from semsearch.lifecycle.sources import IndexSource
from semsearch.lifecycle.state import IllegalTransition, IndexState
from semsearch.lifecycle.watcher import Watcher, WatcherTiming

__all__ = [
    "EventBus",
    "IllegalTransition",
    "IndexManager",
    "IndexSlot",
    "IndexSource",
    "IndexState",
    "IndexStatus",
    "MigrationPhase",
    "MigrationStatus",
    "Migrations",
    "Migrator",
    "Progress",
    "Regime",
    "ServingGeneration",
    "Shadow",
    "StateChange",
    "Subscription",
    "Watcher",
    "WatcherTiming",
]
