"""Rebuilding projections from position 1 into a fresh generation, then switching to it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack

from projections.read_model import TicketProjection
from projections.runtime.answering import open_projection
from projections.runtime.feed import ProjectionFeed, catch_up_together
from projections.runtime.log_reader import LogSource
from projections.store.generations import ProjectionStores


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
    active = {cls.name: storage.active_generation(cls.name) for cls in classes}
    with ExitStack() as opened:
        fresh = []
        for cls in classes:
            projection = open_projection(storage, cls, (active[cls.name] or 0) + 1)
            opened.callback(projection.view.close)
            fresh.append(projection)
        applied = catch_up_together([ProjectionFeed(p, log) for p in fresh], log, on_batch)
        for cls, projection in zip(classes, fresh, strict=True):
            storage.activate(cls.name, projection.view.generation)
            previous = active[cls.name]
            if previous is not None:
                old = open_projection(storage, cls, previous)
                old.drop_tables()
                old.view.close()
    return applied
