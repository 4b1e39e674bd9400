"""Reading the log from a projection's tracked position and applying it batch by batch."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from eventsourcing.persistence import IntegrityError

from projections.read_model import LoggedChange, TicketProjection
from projections.runtime.log_reader import (
    DecodedBatch,
    LogReader,
    LogSnapshots,
    LogSource,
    read_batch,
    shared_reader,
)
from projections.store.parked import describe, park, parked_count
from service.storage_errors import is_transient

logger = logging.getLogger(__name__)

BATCH_SIZE = 1000


class ProjectionFeed:
    """Applies the log to one projection. Followers of one log share its decoded batches
    through `reader` (by default the process's reader of that log).

    An event the projection cannot apply, through no fault of storage, is parked (see
    `projections.store.parked`) rather than stopping the projection: everything after it
    is still applied. Storage failures propagate, for the caller to retry.
    """

    def __init__(
        self,
        projection: TicketProjection,
        log: LogSource,
        batch_size: int = BATCH_SIZE,
        reader: LogReader | None = None,
    ) -> None:
        self.projection = projection
        projection.bind_past(LogSnapshots(log))
        self._reader = reader or shared_reader(log)
        self._batch_size = batch_size
        self.position = projection.view.tracked_position()
        self.parked = parked_count(projection.view)

    def step(self) -> int:
        """Apply the next batch; the number of log events it covered (0: caught up)."""
        batch = self._reader.batch_after(self.position, self._batch_size)
        if batch is None:
            return 0
        self.apply(batch)
        return batch.count

    def apply(self, batch: DecodedBatch) -> None:
        """Apply what of `batch` lies beyond this feed's position, tracking its end."""
        if batch.last_position <= self.position:
            return
        changes = batch.changes
        if batch.after < self.position:
            changes = [change for change in changes if change.position > self.position]
        try:
            self.projection.process_batch(changes, batch.last_position)
        except Exception as error:
            if not self._caused_by_an_event(error):
                raise
            self._apply_apart(changes, batch.last_position)
        self.position = batch.last_position

    def _apply_apart(self, changes: Sequence[LoggedChange], last_position: int) -> None:
        """Apply a batch that failed one event per transaction: the events that fail again
        on their own are parked, the others applied."""
        for change in changes:
            try:
                self.projection.process_batch([change], change.position)
            except Exception as error:
                if not self._caused_by_an_event(error):
                    raise
                self._park(change, error)
            self.position = change.position
        if self.position < last_position:
            self.projection.process_batch([], last_position)

    def _caused_by_an_event(self, error: Exception) -> bool:
        """Whether applying the same events again would fail the same way. Not so for a
        storage failure, which passes and is retried, nor for a position another process
        tracked first, which leaves the work to that process (the applier stands by)."""
        if is_transient(error):
            return False
        return not (
            isinstance(error, IntegrityError)
            and self.projection.view.tracked_position() > self.position
        )

    def _park(self, change: LoggedChange, error: Exception) -> None:
        text = describe(error)
        park(self.projection.view, change.position, change.ticket_id, text)
        self.parked += 1
        logger.error(
            "projection %s parked the event at position %d (ticket %d): %s",
            self.projection.name,
            change.position,
            change.ticket_id,
            text,
        )

    def refresh(self) -> int:
        """While another process applies: adopt its tracked position; how far it moved."""
        tracked = self.projection.view.tracked_position()
        moved = max(tracked - self.position, 0)
        self.position = max(tracked, self.position)
        if moved:
            self.parked = parked_count(self.projection.view)
        return moved

    def catch_up(self, on_batch: Callable[[int], None] = lambda count: None) -> int:
        """Apply everything up to the log's current head; how many events that took."""
        total = 0
        while applied := self.step():
            total += applied
            on_batch(applied)
        return total


def catch_up_together(
    feeds: Sequence[ProjectionFeed],
    log: LogSource,
    on_batch: Callable[[int], None] = lambda count: None,
    batch_size: int = BATCH_SIZE,
) -> int:
    """Bring every feed to the log's head in one pass over the log; events read.

    Each batch is decoded once and handed to every feed, each applying it in its own
    transaction on a thread of its own, while the next batch is read and decoded: the
    database works on one batch while Python decodes the next. Followers ahead of the others
    skip what they have applied already.
    """
    recorder, mapper = log.recorder, log.mapper
    position = min(feed.position for feed in feeds)
    total = 0
    with ThreadPoolExecutor(len(feeds) + 1, thread_name_prefix="rebuild") as pool:
        upcoming = pool.submit(read_batch, recorder, mapper, position, batch_size)
        while (batch := upcoming.result()) is not None:
            upcoming = pool.submit(read_batch, recorder, mapper, batch.last_position, batch_size)
            applying = [pool.submit(feed.apply, batch) for feed in feeds]
            for done in applying:
                done.result()
            total += batch.count
            on_batch(batch.count)
    return total


def log_head(log: LogSource) -> int:
    return log.recorder.max_notification_id() or 0
