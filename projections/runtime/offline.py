"""Rebuilding projections from position 1 into a fresh generation, then switching to it.

The work has three steps so that it can be shared out between processes: each process
builds the next generation of some projections (`build_generations`); only once all have
succeeded are they activated together (`activate_generations`), and if any failed, every
fresh generation is dropped instead (`drop_generations`), leaving the active ones as they were.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack

from projections.read_model import TicketProjection
from projections.runtime.answering import open_projection
from projections.runtime.feed import ProjectionFeed, catch_up_together
from projections.runtime.log_reader import LogSource
from projections.store.generations import ProjectionStores

# Which generation of each projection (by name) a rebuild builds.
Generations = Mapping[str, int]


def rebuild_offline(
    log: LogSource,
    storage: ProjectionStores,
    projections: type[TicketProjection] | Sequence[type[TicketProjection]],
    on_batch: Callable[[int], None] = lambda count: None,
) -> int:
    """Build the next generation of each projection to the log's head in one pass over the
    log, activate them, drop the old ones; how many log events the pass read.

    For use while no `serve` follows these projections: a running service keeps answering
    from the generations it opened until it restarts.
    """
    classes = [projections] if isinstance(projections, type) else list(projections)
    fresh = next_generations(storage, classes)
    applied = build_generations(log, storage, classes, fresh, on_batch)
    activate_generations(storage, classes, fresh)
    return applied


def next_generations(
    storage: ProjectionStores, classes: Sequence[type[TicketProjection]]
) -> dict[str, int]:
    """The generation after the active one of each projection."""
    return {cls.name: (storage.active_generation(cls.name) or 0) + 1 for cls in classes}


def build_generations(
    log: LogSource,
    storage: ProjectionStores,
    classes: Sequence[type[TicketProjection]],
    generations: Generations,
    on_batch: Callable[[int], None] = lambda count: None,
) -> int:
    """Build the given generation of each projection to the log's head in one pass over the
    log, leaving the active ones alone; how many log events the pass read."""
    with ExitStack() as opened:
        fresh = []
        for cls in classes:
            projection = open_projection(storage, cls, generations[cls.name])
            opened.callback(projection.view.close)
            fresh.append(projection)
        return catch_up_together([ProjectionFeed(p, log) for p in fresh], log, on_batch)


def activate_generations(
    storage: ProjectionStores, classes: Sequence[type[TicketProjection]], generations: Generations
) -> None:
    """Make the built generations answer, and drop the ones they replace."""
    for cls in classes:
        previous = storage.active_generation(cls.name)
        storage.activate(cls.name, generations[cls.name])
        if previous is not None and previous != generations[cls.name]:
            old = open_projection(storage, cls, previous)
            old.drop_tables()
            old.view.close()


def drop_generations(
    storage: ProjectionStores, classes: Sequence[type[TicketProjection]], generations: Generations
) -> None:
    """Drop generations built but never activated, whatever state their building left."""
    for cls in classes:
        if storage.active_generation(cls.name) == generations[cls.name]:
            continue
        fresh = open_projection(storage, cls, generations[cls.name])
        fresh.drop_tables()
        fresh.view.close()
