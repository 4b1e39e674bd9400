"""Read models without the log or the app: changes made in memory, applied to a projection on
a SQLite store in a temporary folder, read back through its query module."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import orjson

from projections.read_model import LoggedChange, TicketProjection
from projections.store.views import SQLiteProjectionStore
from service.settings import DatabaseLocation

P = TypeVar("P", bound=TicketProjection)

# What a test applies its changes with: all in one batch, or each in its own.
Apply = Callable[[TicketProjection, Sequence[LoggedChange]], None]

# Source times are minutes past this hour; the log receives one change a second after it.
_HOUR = datetime(2024, 5, 17, 10, tzinfo=UTC)
_RECEIVING = datetime(2024, 5, 17, 18, tzinfo=UTC)


def at(minute: int) -> datetime:
    return _HOUR + timedelta(minutes=minute)


def iso(minute: int) -> str:
    """A source time as the read models answer it."""
    return at(minute).isoformat()


class Log:
    """Makes changes as the log numbers them: positions in order, versions per ticket; and,
    as the log does, hands back the snapshot at a position (`PastSnapshots`)."""

    def __init__(self) -> None:
        self.position = 0
        self._versions: dict[int, int] = {}
        self._snapshots: dict[int, dict[str, Any]] = {}

    def snapshots_at(self, positions: Collection[int]) -> dict[int, dict[str, Any]]:
        return {p: self._snapshots[p] for p in positions if p in self._snapshots}

    def change(self, ticket_id: int, minute: int, **fields: Any) -> LoggedChange:
        """Ticket `ticket_id` as delivered with source time `minute` and `fields` in `data`."""
        self.position += 1
        version = self._versions[ticket_id] = self._versions.get(ticket_id, 0) + 1
        event_id = fields.get("eventId")
        self._snapshots[self.position] = {"id": ticket_id, **fields}
        return LoggedChange(
            position=self.position,
            ticket_id=ticket_id,
            event_id=event_id if isinstance(event_id, int) else None,
            version=version,
            source_time=at(minute),
            received_at=received(self.position),
            data=self._snapshots[self.position],
        )


def received(position: int) -> datetime:
    """When the change at `position` reached the log."""
    return _RECEIVING + timedelta(seconds=position)


@contextmanager
def read_model(cls: type[P], folder: Path, log: Log) -> Iterator[P]:
    """A fresh `cls` on its own SQLite store in `folder`, following `log`, as the runtime
    opens one."""
    location = DatabaseLocation.parse(f"sqlite:///{folder / 'log.sqlite3'}")
    projection = cls(SQLiteProjectionStore(location, cls.name, 1))
    projection.bind_past(log)
    projection.create_tables()
    try:
        yield projection
    finally:
        projection.view.close()


def apply_together(projection: TicketProjection, changes: Sequence[LoggedChange]) -> None:
    projection.process_batch(changes, changes[-1].position)


def apply_apart(projection: TicketProjection, changes: Sequence[LoggedChange]) -> None:
    for change in changes:
        projection.process_batch([change], change.position)


def as_json(value: Any) -> Any:
    """An answer as a client decodes it: stored JSON fragments included."""
    return orjson.loads(orjson.dumps(value))
