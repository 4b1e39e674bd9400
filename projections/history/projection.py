"""History: each ticket's versions in source-time order with their field-level changes, and
the change feed across tickets.

A version's `changes` are the diff against the version before it in source-time order
(source time, then position for ties). A late delivery (recorded while the ticket already had
a version with a later source time) lands in the middle of that order: its own changes are
computed against its predecessor, and its successor's changes are recomputed against it. If
it lands first, it becomes the `created` version and the old first version gets changes.

The feed lists every change. A created version has no changes, so it has no feed entries:
an entry always describes a field that changed between two snapshots, and a ticket's creation
is visible in its history instead. The feed is append-only for its readers, so a reader that
follows it with a cursor sees every change: an entry is keyed by the log position whose event
wrote it and its place (`seq`) among that event's entries. When a late delivery recomputes its
successor's changes, the new entries follow the late delivery's own, under its position, after
any cursor handed out before; the entries they replace stay, marked `superseded_by` that
position.

The feed is stored as the writes it is made of, not a row per change. A version's own write
is its `versions` row: `changes` as computed when it was recorded (entries `0..n-1` at its
position), with `superseded_by` once recomputed (`recomputed_changes` then holds what its
history shows). Each recomputation is a row of `rewrites`, at the late delivery's position
after that delivery's own entries (`first_seq`). Only late deliveries write `rewrites`, so the
feed costs nearly nothing beyond the versions.

A diff needs the snapshots on both sides. The projection keeps each ticket's latest one (by
source time) in `heads`, the neighbour of nearly every change, and looks any other up in the
log at its version's position (`PastSnapshots`): only a late delivery needs one. It never
reads another projection.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from projections.diff.changes import Change, diff
from projections.read_model import (
    PLACE_IN_TIME,
    VERSIONS_BY_SOURCE,
    Column,
    LoggedChange,
    PastSnapshots,
    TicketProjection,
    versions_columns,
    versions_table,
)
from projections.store.views import ROOM_FOR_UPDATES, Cursor
from service import json_codec

_NEIGHBOUR_COLUMNS = (
    "v.ticket_id, v.version, v.position, v.event_id, v.source_us, v.source_iso, "
    "v.received_iso, h.snapshot"
)
# Neighbours are found by primary key (the head's, or after an index probe for the version
# wanted), so a growing table is never scanned whole. A version that is its ticket's head
# comes with its snapshot; any other comes without.
_LATEST = (
    "JOIN {heads} h ON h.ticket_id = b.ticket_id "
    "JOIN {versions} v ON v.ticket_id = h.ticket_id AND v.version = h.version"
)
_AROUND = (
    "JOIN {versions} v ON v.ticket_id = b.ticket_id AND %s "
    "LEFT JOIN {heads} h ON h.ticket_id = v.ticket_id AND h.version = v.version"
)
_PREDECESSOR = _AROUND % (
    "v.version = (SELECT w.version FROM {versions} w WHERE w.ticket_id = b.ticket_id "
    "AND w.source_us <= b.earliest ORDER BY w.source_us DESC, w.position DESC LIMIT 1)"
)
_SUCCESSORS = _AROUND % "v.source_us > b.earliest"
# Rows of a VALUES list per statement: two placeholders each, well under SQLite's limit.
_VALUES_PER_STATEMENT = 400
_VERSIONS: tuple[Column, ...] = (
    *PLACE_IN_TIME,
    ("late", "BIGINT NOT NULL"),
    ("created", "BIGINT NOT NULL"),
    ("changes", "TEXT NOT NULL"),
    ("recomputed_changes", "TEXT"),
    ("superseded_by", "BIGINT"),
)
_VERSIONS_COLUMNS = versions_columns(*_VERSIONS)
_HEADS_COLUMNS = ("ticket_id", "version", "snapshot")
_REWRITES_COLUMNS = (
    "position",
    "first_seq",
    "ticket_id",
    "event_id",
    "version",
    "version_position",
    "source_us",
    "source_iso",
    "received_iso",
    "changes",
    "superseded_by",
)


class HistoryProjection(TicketProjection):
    name = "history"
    tables: ClassVar[Sequence[str]] = ("versions", "heads", "rewrites")
    create_statements: ClassVar[Sequence[str]] = (
        versions_table(*_VERSIONS),
        VERSIONS_BY_SOURCE,
        # The feed's order, whole and by eventId (by ticket, the primary key gives it).
        "CREATE UNIQUE INDEX IF NOT EXISTS {@versions_by_position} ON {versions} (position)",
        "CREATE INDEX IF NOT EXISTS {@versions_by_event} ON {versions} (event_id, position)",
        "CREATE TABLE IF NOT EXISTS {heads} (ticket_id BIGINT PRIMARY KEY, "
        "version BIGINT NOT NULL, snapshot TEXT NOT NULL)" + ROOM_FOR_UPDATES,
        "CREATE TABLE IF NOT EXISTS {rewrites} (position BIGINT NOT NULL, "
        "first_seq BIGINT NOT NULL, ticket_id BIGINT NOT NULL, event_id BIGINT, "
        "version BIGINT NOT NULL, version_position BIGINT NOT NULL, "
        "source_us BIGINT NOT NULL, source_iso TEXT NOT NULL, received_iso TEXT NOT NULL, "
        "changes TEXT NOT NULL, superseded_by BIGINT, PRIMARY KEY (position, first_seq))",
        "CREATE INDEX IF NOT EXISTS {@rewrites_by_version} ON {rewrites} (ticket_id, version)",
    )

    def apply(self, cursor: Cursor, changes: Sequence[LoggedChange]) -> None:
        # Neighbours are found in memory, in log order, among the rows read once for the batch
        # and the versions the batch adds, so a later change of a ticket sees an earlier one.
        timelines = self._neighbourhoods(cursor, changes)
        added: dict[tuple[int, int], _Version] = {}
        # Versions recorded before the batch whose changes it recomputes.
        recomputed: dict[tuple[int, int], _Version] = {}
        # The feed rows are written as if each change came in a batch of its own, so the feed
        # is the same however the log is cut into batches (a rebuild gives it byte for byte).
        feed = _FeedWrites()
        for change in changes:
            timeline = timelines.setdefault(change.ticket_id, [])
            # The new version has the highest position of its ticket, so among equal source
            # times every known version comes before it.
            at = bisect_right(timeline, change.source_us, key=lambda v: v.feed.source_us)
            predecessor = timeline[at - 1] if at else None
            successor = timeline[at] if at < len(timeline) else None
            version = _Version(
                feed=_FeedVersion.of_change(change),
                snapshot=change.data,
                late=successor is not None,
                created=predecessor is None,
                changes=diff(predecessor.data(self.past), change.data) if predecessor else [],
                received_us=change.received_us,
                snapshot_json=change.snapshot_json,
            )
            timeline.insert(at, version)
            added[(change.ticket_id, change.version)] = version
            feed.add(version, change.position)
            if successor is not None:
                # The successor now follows this change: its changes are against it.
                successor.changes = diff(change.data, successor.data(self.past))
                successor.created = False
                feed.add(successor, change.position)
                key = (change.ticket_id, successor.feed.version)
                if key not in added:
                    recomputed[key] = successor
        # A ticket's head is the last of its timeline, which holds every version from the
        # batch's earliest change of it on.
        heads = [
            (ticket_id, timeline[-1])
            for ticket_id, timeline in timelines.items()
            if (ticket_id, timeline[-1].feed.version) in added
        ]
        self._write(cursor, list(added.values()), list(recomputed.values()), feed, heads)

    def _neighbourhoods(
        self, cursor: Cursor, changes: Sequence[LoggedChange]
    ) -> dict[int, list[_Version]]:
        """Per ticket, in source-time order, every recorded version that can neighbour one of
        the batch's changes: the last at or before its earliest source time, and all after."""
        earliest: dict[int, int] = {}
        for change in changes:
            # A source time of 0 is the epoch, a time like any other: never a missing one.
            known = earliest.get(change.ticket_id, change.source_us)
            earliest[change.ticket_id] = min(change.source_us, known)
        # Deliveries mostly come in source-time order: a ticket's latest version is then its
        # only neighbour, one index probe away. Only for a late delivery's ticket, whose latest
        # version is later than the change, are its other neighbours looked for.
        found: dict[int, list[_Version]] = {}
        late: list[tuple[int, int]] = []
        view = self.view
        every_ticket = [
            (
                f"WITH b AS ({view.integer_rows(('ticket_id', 'earliest'))})",
                [view.integer_rows_parameter(sorted(earliest.items()))],
            )
        ]
        for ticket_id, version in self._select(cursor, every_ticket, _LATEST):
            if version.feed.source_us > earliest[ticket_id]:
                late.append((ticket_id, earliest[ticket_id]))
            else:
                found[ticket_id] = [version]
        late_tickets = [
            _bounds_as_values(late[start : start + _VALUES_PER_STATEMENT])
            for start in range(0, len(late), _VALUES_PER_STATEMENT)
        ]
        for pick in (_PREDECESSOR, _SUCCESSORS):
            for ticket_id, version in self._select(cursor, late_tickets, pick):
                found.setdefault(ticket_id, []).append(version)
        for timeline in found.values():
            timeline.sort(key=lambda v: (v.feed.source_us, v.feed.position))
        return found

    def _select(
        self, cursor: Cursor, bounded: Sequence[tuple[str, list[Any]]], pick: str
    ) -> Iterator[tuple[int, _Version]]:
        """The versions `pick` chooses for each (ticket, earliest source time) of `b`: each
        of `bounded` is a statement's `WITH b` clause and its parameters.

        Every ticket's latest version, found by primary key, takes the bounds as one
        parameter (`integer_rows`). A late delivery's neighbours are a range of its
        ticket's versions: their bounds go in as a VALUES list, which tells the planner how
        few they are (it cannot count the rows inside a parameter), so that it reads each
        range by index instead of scanning the whole table.
        """
        for with_b, params in bounded:
            cursor.execute(
                self.view.sql(f"{with_b} SELECT {_NEIGHBOUR_COLUMNS} FROM b {pick}"), params
            )
            for row in cursor.fetchall():
                yield row["ticket_id"], _Version.of_row(row)

    def _write(
        self,
        cursor: Cursor,
        added: list[_Version],
        recomputed: list[_Version],
        feed: _FeedWrites,
        heads: list[tuple[int, _Version]],
    ) -> None:
        view = self.view
        rows = []
        for v in added:
            own = feed.own_write(v)
            changes = json_codec.dump_text(own.changes)
            recomputed_changes = (
                None if v.changes is own.changes else json_codec.dump_text(v.changes)
            )
            rows.append(
                (
                    v.feed.ticket_id,
                    v.feed.version,
                    v.feed.position,
                    v.feed.event_id,
                    v.feed.source_us,
                    v.feed.source_iso,
                    v.received_us,
                    v.feed.received_iso,
                    int(v.late),
                    int(v.created),
                    changes,
                    recomputed_changes,
                    own.superseded_by,
                )
            )
        view.insert_rows(cursor, "versions", _VERSIONS_COLUMNS, rows)
        view.upsert_rows(
            cursor,
            "heads",
            _HEADS_COLUMNS,
            "ticket_id",
            [(ticket_id, v.feed.version, v.snapshot_json) for ticket_id, v in heads],
        )
        if recomputed:
            # Only late deliveries recompute a version: rare enough for a statement each.
            cursor.executemany(
                view.sql(
                    "UPDATE {versions} SET recomputed_changes = ?, created = 0 "
                    "WHERE ticket_id = ? AND version = ?"
                ),
                [
                    (json_codec.dump_text(v.changes), v.feed.ticket_id, v.feed.version)
                    for v in recomputed
                ],
            )
        superseded = feed.superseded_before_batch()
        if superseded:
            # The one write of each that nothing superseded yet: its own, or its last rewrite.
            for table in ("versions", "rewrites"):
                cursor.executemany(
                    view.sql(
                        f"UPDATE {{{table}}} SET superseded_by = ? "
                        "WHERE ticket_id = ? AND version = ? AND superseded_by IS NULL"
                    ),
                    superseded,
                )
        view.insert_rows(cursor, "rewrites", _REWRITES_COLUMNS, feed.rewrites())


def _bounds_as_values(bounds: Sequence[tuple[int, int]]) -> tuple[str, list[int]]:
    """`b` as a VALUES list of (ticket, earliest source time), and its parameters."""
    rows = ", ".join("(CAST(? AS BIGINT), CAST(? AS BIGINT))" for _ in bounds)
    return f"WITH b (ticket_id, earliest) AS (VALUES {rows})", [v for pair in bounds for v in pair]


@dataclass(slots=True)
class _FeedWrite:
    """A version's changes as one change of the batch left them, at that change's position."""

    version: _FeedVersion
    at: int
    changes: list[Change]
    superseded_by: int | None = None


class _FeedWrites:
    """The feed writes of a batch, in log order: each change's own, then its successor's
    recomputed ones, the writes they replace marked with the position that replaced them."""

    def __init__(self) -> None:
        self._writes: list[_FeedWrite] = []
        self._latest: dict[tuple[int, int], _FeedWrite] = {}
        self._own: dict[tuple[int, int], _FeedWrite] = {}
        self._before_batch: dict[tuple[int, int], int] = {}

    def add(self, version: _Version, at: int) -> None:
        key = (version.feed.ticket_id, version.feed.version)
        latest = self._latest.get(key)
        if latest is not None:
            latest.superseded_by = at
        elif at != version.feed.position:
            self._before_batch[key] = at
        write = _FeedWrite(version.feed, at, version.changes)
        self._writes.append(write)
        self._latest[key] = write
        if at == version.feed.position:
            self._own[key] = write

    def own_write(self, version: _Version) -> _FeedWrite:
        """The write a version the batch adds made at its own position."""
        return self._own[(version.feed.ticket_id, version.feed.version)]

    def superseded_before_batch(self) -> list[tuple[int, int, int]]:
        """(position, ticket, version) of the versions whose rows written before this batch
        the batch replaces, with the position that first replaced them."""
        return [(at, ticket_id, version) for (ticket_id, version), at in self._before_batch.items()]

    def rewrites(self) -> list[tuple[Any, ...]]:
        """The `rewrites` rows: every write but the versions' own, each after the entries
        written before it at the same position. A write with no changes has no entries."""
        next_seq: dict[int, int] = {}
        rows: list[tuple[Any, ...]] = []
        for write in self._writes:
            first = next_seq.get(write.at, 0)
            next_seq[write.at] = first + len(write.changes)
            v = write.version
            if write.at == v.position or not write.changes:
                continue
            rows.append(
                (
                    write.at,
                    first,
                    v.ticket_id,
                    v.event_id,
                    v.version,
                    v.position,
                    v.source_us,
                    v.source_iso,
                    v.received_iso,
                    json_codec.dump_text(write.changes),
                    write.superseded_by,
                )
            )
        return rows


@dataclass(frozen=True, slots=True)
class _FeedVersion:
    """What each feed row repeats about the version it belongs to."""

    position: int
    ticket_id: int
    event_id: int | None
    version: int
    source_us: int
    source_iso: str
    received_iso: str

    @classmethod
    def of_change(cls, change: LoggedChange) -> _FeedVersion:
        return cls(
            position=change.position,
            ticket_id=change.ticket_id,
            event_id=change.event_id,
            version=change.version,
            source_us=change.source_us,
            source_iso=change.source_iso,
            received_iso=change.received_iso,
        )

    @classmethod
    def of_row(cls, ticket_id: int, row: Any) -> _FeedVersion:
        return cls(
            position=row["position"],
            ticket_id=ticket_id,
            event_id=row["event_id"],
            version=row["version"],
            source_us=row["source_us"],
            source_iso=row["source_iso"],
            received_iso=row["received_iso"],
        )


@dataclass(slots=True)
class _Version:
    """A version as the batch sees it: recorded before (a head's snapshot still as text, any
    other's not yet read from the log) or added now."""

    feed: _FeedVersion
    snapshot: dict[str, Any] | str | None
    late: bool = False
    created: bool = False
    changes: list[Change] = field(default_factory=list)
    received_us: int = 0
    snapshot_json: str = ""  # set for the versions a batch adds, the only heads it writes

    @classmethod
    def of_row(cls, row: Any) -> _Version:
        return cls(feed=_FeedVersion.of_row(row["ticket_id"], row), snapshot=row["snapshot"])

    def data(self, past: PastSnapshots) -> Any:
        if self.snapshot is None:
            position = self.feed.position
            snapshot = past.snapshots_at((position,)).get(position)
            if snapshot is None:
                raise LookupError(f"the log holds no change at position {position}")
            self.snapshot = snapshot
        elif isinstance(self.snapshot, str):
            self.snapshot = json_codec.loads(self.snapshot)
        return self.snapshot
