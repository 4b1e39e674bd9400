"""What every read model shares: the event as projections see it, batched applying, and the
per-version table."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol

from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from eventsourcing.utils import get_topic

from projections.store.parked import PARKED_STATEMENTS, PARKED_TABLE
from projections.store.views import Cursor, ProjectionStore
from service import json_codec
from service.domain import TicketChanged

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_micros(moment: datetime) -> int:
    """A sortable integer for an aware time, the same on both backends."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@dataclass(frozen=True, slots=True)
class LoggedChange:
    """A TicketChanged with its place in the log, without the raw body projections never need.

    One decoded batch is handed to every projection that follows the log in a process, so
    the values several of them write are derived once here rather than by each of them.
    Treat `data` as read-only: the projections share it.
    """

    position: int
    ticket_id: int
    event_id: int | None
    version: int
    source_time: datetime
    received_at: datetime
    data: dict[str, Any]
    # The times as ISO text: given when the log holds them so (`of_parts`), else formatted.
    source_iso: str = ""
    received_iso: str = ""
    source_us: int = field(init=False)
    received_us: int = field(init=False)
    _snapshot_json: str | None = field(init=False, default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        derive = object.__setattr__  # the dataclass is frozen for everyone else
        derive(self, "source_us", epoch_micros(self.source_time))
        derive(self, "received_us", epoch_micros(self.received_at))
        if not self.source_iso:
            derive(self, "source_iso", self.source_time.isoformat())
        if not self.received_iso:
            derive(self, "received_iso", self.received_at.isoformat())

    @property
    def snapshot_json(self) -> str:
        """`data` as JSON text, made once for all the projections that keep it."""
        text = self._snapshot_json
        if text is None:
            text = json_codec.dump_text(self.data)
            # Threads racing here make equal text; whichever is kept does.
            object.__setattr__(self, "_snapshot_json", text)
        return text

    @classmethod
    def of_parts(
        cls,
        position: int,
        version: int,
        parts: tuple[str, str, dict[str, Any]],
    ) -> LoggedChange:
        """The change from what the log's mapper reads of it (`LogMapper.ticket_change_parts`):
        its times as the ISO text the log keeps them in, and its data, whose `id` and
        `eventId` are the ticket and event, as the intake read them."""
        received_iso, source_iso, data = parts
        return cls(
            position=position,
            ticket_id=data["id"],
            event_id=data.get("eventId"),
            version=version,
            source_time=datetime.fromisoformat(source_iso),
            received_at=datetime.fromisoformat(received_iso),
            data=data,
            source_iso=source_iso,
            received_iso=received_iso,
        )

    @classmethod
    def of(cls, event: TicketChanged, position: int) -> LoggedChange:
        return cls(
            position=position,
            ticket_id=event.ticket_id,
            event_id=event.event_id,
            version=event.originator_version,
            source_time=event.source_timestamp,
            received_at=event.timestamp,
            data=event.data,
        )


TICKET_CHANGED_TOPIC = get_topic(TicketChanged)


class PastSnapshots(Protocol):
    """The snapshots of changes already in the log, by position.

    The log keeps every body, so the read models keep only where each version sits in it
    (`tickets`: the current snapshot besides) and look a past one up here when they need it.
    """

    def snapshots_at(self, positions: Collection[int]) -> dict[int, dict[str, Any]]:
        """The `data` of the changes at `positions`; a position holding none is left out."""
        ...


class _NoLog:
    """What a read model looks past snapshots up in until it is bound to its log."""

    def snapshots_at(self, positions: Collection[int]) -> dict[int, dict[str, Any]]:
        raise RuntimeError("this read model is not bound to a log to look past snapshots up in")


Column = tuple[str, str]
"""A column of a read model's table: its name and its SQL type."""

VERSION_KEY: tuple[Column, ...] = (
    ("ticket_id", "BIGINT NOT NULL"),
    ("version", "BIGINT NOT NULL"),
    ("position", "BIGINT NOT NULL"),
)
SOURCE_TIME: tuple[Column, ...] = (
    ("source_us", "BIGINT NOT NULL"),
    ("source_iso", "TEXT NOT NULL"),
)
# A version's whole place in time, kept by the read models that answer by time or list versions.
PLACE_IN_TIME: tuple[Column, ...] = (
    ("event_id", "BIGINT"),
    *SOURCE_TIME,
    ("received_us", "BIGINT NOT NULL"),
    ("received_iso", "TEXT NOT NULL"),
)


def versions_table(*columns: Column) -> str:
    """The statement of a read model's `versions` table: each version of a ticket with its
    log position, then `columns` (SOURCE_TIME among them), keyed by (ticket, version)."""
    every = ", ".join(f"{name} {kind}" for name, kind in (*VERSION_KEY, *columns))
    return f"CREATE TABLE IF NOT EXISTS {{versions}} ({every}, PRIMARY KEY (ticket_id, version))"


# For the read models that find one version by time (the last one before a moment, a late
# delivery's neighbours): a ticket's versions in source-time order. The ones that only ever
# read all of a ticket's versions sort them instead; a ticket has few, and the index would
# cost every version about as many bytes as the row without its payload.
VERSIONS_BY_SOURCE = (
    "CREATE INDEX IF NOT EXISTS {@versions_by_source} ON {versions} "
    "(ticket_id, source_us, position)"
)


def versions_columns(*columns: Column) -> tuple[str, ...]:
    """The names of the columns of `versions_table(*columns)`, in order."""
    return tuple(name for name, _ in (*VERSION_KEY, *columns))


class TicketProjection(Projection[ProjectionStore]):
    """A read model: its tables, and how a batch of changes updates them."""

    tables: ClassVar[Sequence[str]] = ()
    create_statements: ClassVar[Sequence[str]] = ()
    topics = (TICKET_CHANGED_TOPIC,)
    past: PastSnapshots = _NoLog()

    def bind_past(self, past: PastSnapshots) -> None:
        """Look the snapshots of recorded versions up in `past` (what follows the log binds
        it, since the log is what it reads)."""
        self.past = past

    def create_tables(self) -> None:
        # Every generation keeps the events it could not apply beside its own tables.
        self.view.create([*self.create_statements, *PARKED_STATEMENTS])

    def drop_tables(self) -> None:
        self.view.drop([*self.tables, PARKED_TABLE])

    def process_batch(self, changes: Sequence[LoggedChange], last_position: int) -> None:
        """Apply the changes and track `last_position` in one transaction."""
        with self.view.writing() as cursor:
            if changes:
                self.apply(cursor, changes)
            self.view.track(cursor, last_position)

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        # The library's `Projection` requires it (its `ProjectionRunner` calls it one event
        # at a time); the runtime here applies whole batches through `process_batch`.
        change = LoggedChange.of(domain_event, tracking.notification_id)
        self.process_batch([change], tracking.notification_id)

    @abstractmethod
    def apply(self, cursor: Cursor, changes: Sequence[LoggedChange]) -> None:
        """Write what `changes` (in log order) mean for this read model."""


class DeliveredFieldsPerVersion(TicketProjection):
    """A read model of a few delivered fields, a row per version with its source time.

    Each field is kept as JSON text, so integers of any size survive, and as NULL when the
    delivery did not send it, which keeps "not sent" apart from an empty value. Rows are
    never rewritten: what is derived from them (points, timelines) is derived when read, in
    source-time order, so a late delivery takes its place among the others. A read takes all
    of a ticket's versions and sorts them, so the table has no index by source time.
    """

    tables: ClassVar[Sequence[str]] = ("versions",)
    kept: ClassVar[Sequence[tuple[str, str]]] = ()
    """Each kept field as (its column, its key in the delivered data); a subclass names them,
    and its table and columns follow from them."""
    _columns: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields = (*SOURCE_TIME, *((column, "TEXT") for column, _ in cls.kept))
        cls.create_statements = (versions_table(*fields),)
        cls._columns = versions_columns(*fields)

    def apply(self, cursor: Cursor, changes: Sequence[LoggedChange]) -> None:
        self.view.insert_rows(
            cursor,
            "versions",
            self._columns,
            [
                (
                    change.ticket_id,
                    change.version,
                    change.position,
                    change.source_us,
                    change.source_iso,
                    *(
                        json_codec.dump_text(change.data[key]) if key in change.data else None
                        for _, key in self.kept
                    ),
                )
                for change in changes
            ],
        )
