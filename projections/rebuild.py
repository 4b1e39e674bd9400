"""Rebuilding projections from position 1 into a fresh generation, then switching to it."""

from __future__ import annotations

from collections.abc import Callable

from projections.base import TicketProjection
from projections.follower import Follower, log_head
from projections.live import open_projection
from projections.storage import ProjectionStorage
from service.application import TicketAudit


def rebuild_offline(
    log: TicketAudit,
    storage: ProjectionStorage,
    cls: type[TicketProjection],
    on_batch: Callable[[int], None] = lambda count: None,
) -> int:
    """Build the next generation to the log's head, activate it, drop the old one.

    For use while no `serve` follows this projection: a running service keeps answering
    from the generation it opened until it restarts.
    """
    active = storage.active_generation(cls.name)
    fresh = open_projection(storage, cls, (active or 0) + 1)
    try:
        applied = Follower(fresh, log).catch_up(on_batch)
        storage.activate(cls.name, fresh.view.generation)
        if active is not None:
            old = open_projection(storage, cls, active)
            old.drop_tables()
            old.view.close()
    finally:
        fresh.view.close()
    return applied


def head_position(log: TicketAudit) -> int:
    return log_head(log)
