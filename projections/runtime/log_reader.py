"""The log read in batches and decoded once for every projection of a process.

Decoding (decompressing, parsing the body) costs more than reading, and the followers of one
process mostly stand at the same position, so the first to ask for the batch after it decodes
it and the others get the same objects.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Collection, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

from eventsourcing.persistence import ApplicationRecorder, StoredEvent

from projections.read_model import TICKET_CHANGED_TOPIC, LoggedChange


class LogMapper(Protocol):
    """What read models need of the log's mapper (`service.persistence.event_codec`)."""

    def ticket_change_parts(self, stored_event: StoredEvent) -> tuple[str, str, dict[str, Any]]:
        """A stored TicketChanged's received and source times, as ISO text, and its data."""
        ...


class LogSource(Protocol):
    """What read models need of the log: its recorder to read and its mapper to decode.

    The service's application (`service.application.LogSource`) is one; the read side
    depends on nothing more of it.
    """

    @property
    def recorder(self) -> ApplicationRecorder: ...

    @property
    def mapper(self) -> LogMapper: ...


# Feeds a few batches apart still share; more would only hold memory.
CACHED_BATCHES = 3


@dataclass(frozen=True, slots=True)
class DecodedBatch:
    """The changes logged after position `after`, up to `last_position`."""

    after: int
    last_position: int
    changes: Sequence[LoggedChange]
    count: int  # log events covered, including any a projection has no use for


def read_batch(
    recorder: ApplicationRecorder, mapper: LogMapper, after: int, limit: int
) -> DecodedBatch | None:
    """The next `limit` log events after `after`, decoded; None when there are none yet."""
    notifications = recorder.select_notifications(
        start=after, limit=limit, inclusive_of_start=False
    )
    if not notifications:
        return None
    # Only what the read models use is decoded: building each TicketChanged would cost
    # about as much again.
    parts = mapper.ticket_change_parts
    changes = [
        LoggedChange.of_parts(notification.id, notification.originator_version, parts(notification))
        for notification in notifications
        if notification.topic == TICKET_CHANGED_TOPIC
    ]
    return DecodedBatch(after, notifications[-1].id, tuple(changes), len(notifications))


class LogSnapshots:
    """Past snapshots (`PastSnapshots`) read from the log, one event at a time.

    Each is one indexed read and one decode: for a query's one version, or the neighbours of
    a late delivery, never for every event a batch applies.
    """

    def __init__(self, log: LogSource) -> None:
        self._log = log

    def snapshots_at(self, positions: Collection[int]) -> dict[int, dict[str, Any]]:
        recorder, mapper = self._log.recorder, self._log.mapper
        found: dict[int, dict[str, Any]] = {}
        for position in positions:
            notifications = recorder.select_notifications(start=position, limit=1)
            if (
                notifications
                and notifications[0].id == position
                and notifications[0].topic == TICKET_CHANGED_TOPIC
            ):
                found[position] = mapper.ticket_change_parts(notifications[0])[2]
        return found


class LogReader:
    """Decoded batches of one log, the last few kept for whoever asks for them next.

    Thread-safe: a batch asked for while another thread decodes it is waited for, not
    decoded twice. An empty answer is never kept, since the log grows.
    """

    def __init__(self, log: LogSource, cached_batches: int = CACHED_BATCHES) -> None:
        # Not the log itself: `shared_reader` keys readers weakly by it.
        self._recorder = log.recorder
        self._mapper = log.mapper
        self._cached_batches = cached_batches
        self._lock = threading.Lock()
        self._batches: OrderedDict[tuple[int, int], Future[DecodedBatch | None]] = OrderedDict()

    def batch_after(self, position: int, limit: int) -> DecodedBatch | None:
        key = (position, limit)
        with self._lock:
            pending = self._batches.get(key)
            owner = pending is None
            if pending is None:
                pending = self._batches[key] = Future()
                while len(self._batches) > self._cached_batches:
                    self._batches.popitem(last=False)
            else:
                self._batches.move_to_end(key)
        if owner:
            self._fill(key, pending)
        return pending.result()

    def _fill(self, key: tuple[int, int], pending: Future[DecodedBatch | None]) -> None:
        try:
            batch = read_batch(self._recorder, self._mapper, *key)
        except BaseException as error:
            self._forget(key, pending)
            pending.set_exception(error)
            return
        if batch is None:
            self._forget(key, pending)
        pending.set_result(batch)

    def _forget(self, key: tuple[int, int], pending: Future[DecodedBatch | None]) -> None:
        with self._lock:
            if self._batches.get(key) is pending:
                del self._batches[key]


_shared: weakref.WeakKeyDictionary[LogSource, LogReader] = weakref.WeakKeyDictionary()
_shared_lock = threading.Lock()


def shared_reader(log: LogSource) -> LogReader:
    """The one reader of `log` in this process, so that its followers decode each event once."""
    with _shared_lock:
        reader = _shared.get(log)
        if reader is None:
            reader = _shared[log] = LogReader(log)
        return reader
