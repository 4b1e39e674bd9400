"""Reading the log from a projection's tracked position and applying it batch by batch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from projections.read_model import TicketProjection
from projections.runtime.log_reader import (
    DecodedBatch,
    LogReader,
    LogSource,
    read_batch,
    shared_reader,
)

BATCH_SIZE = 1000


class ProjectionFeed:
    """Applies the log to one projection. Followers of one log share its decoded batches
    through `reader` (by default the process's reader of that log)."""

    def __init__(
        self,
        projection: TicketProjection,
        log: LogSource,
        batch_size: int = BATCH_SIZE,
        reader: LogReader | None = None,
    ) -> None:
        self.projection = projection
        self._reader = reader or shared_reader(log)
        self._batch_size = batch_size
        self.position = projection.view.tracked_position()

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
        self.projection.process_batch(changes, batch.last_position)
        self.position = batch.last_position

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
