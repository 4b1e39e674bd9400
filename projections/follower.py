"""Reading the log from a projection's tracked position and applying it batch by batch."""

from __future__ import annotations

from collections.abc import Callable

from projections.base import TICKET_CHANGED_TOPIC, LoggedChange, TicketProjection
from service.application import TicketAudit
from service.domain import TicketChanged

BATCH_SIZE = 1000


class Follower:
    def __init__(
        self, projection: TicketProjection, log: TicketAudit, batch_size: int = BATCH_SIZE
    ) -> None:
        self.projection = projection
        self._log = log
        self._batch_size = batch_size
        self.position = projection.view.tracked_position()

    def step(self) -> int:
        """Apply the next batch; the number of log events it covered (0: caught up)."""
        notifications = self._log.recorder.select_notifications(
            start=self.position, limit=self._batch_size, inclusive_of_start=False
        )
        if not notifications:
            return 0
        changes = []
        for notification in notifications:
            if notification.topic != TICKET_CHANGED_TOPIC:
                continue
            event = self._log.mapper.to_domain_event(notification)
            assert isinstance(event, TicketChanged)
            changes.append(LoggedChange.of(event, notification.id))
        last = notifications[-1].id
        self.projection.process_batch(changes, last)
        self.position = last
        return len(notifications)

    def refresh(self) -> int:
        """While another process applies: adopt its tracked position; how far it moved."""
        tracked = self.projection.view.tracked_position()
        moved = max(tracked - self.position, 0)
        self.position = max(tracked, self.position)
        return moved

    def catch_up(self, on_batch: Callable[[int], None] = lambda count: None) -> int:
        """Apply everything up to the log's current head; how many events that took."""
        total = 0
        while applied := self.step():
            total += applied
            on_batch(applied)
        return total


def log_head(log: TicketAudit) -> int:
    return log.recorder.max_notification_id() or 0
