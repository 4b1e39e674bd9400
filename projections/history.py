"""History: each ticket's versions in source-time order with their field-level changes, and
the change feed across tickets.

A version's `changes` are the diff against the version before it in source-time order
(source time, then position for ties). A late delivery (recorded while the ticket already had
a version with a later source time) lands in the middle of that order: its own changes are
computed against its predecessor, and its successor's changes are recomputed against it. If
it lands first, it becomes the `created` version and the old first version gets changes.

The feed holds one row per change, keyed by the position of the version it belongs to and
its place in that version's list. A created version has no changes, so it has no feed rows:
a feed row always describes a field that changed between two snapshots, and a ticket's
creation is visible in its history instead. When a version's changes are recomputed, its
feed rows are replaced and keep its position.

The projection keeps its own copy of every snapshot: it never reads another projection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from projections import jsonio
from projections.base import LoggedChange, TicketProjection
from projections.changes import Change, diff
from projections.store import Cursor

_NEIGHBOUR_COLUMNS = "version, position, event_id, source_us, source_iso, received_iso, snapshot"


class HistoryProjection(TicketProjection):
    name = "history"
    tables: ClassVar[Sequence[str]] = ("versions", "feed")
    create_statements: ClassVar[Sequence[str]] = (
        "CREATE TABLE IF NOT EXISTS {versions} (ticket_id BIGINT NOT NULL, "
        "version BIGINT NOT NULL, position BIGINT NOT NULL, event_id BIGINT, "
        "source_us BIGINT NOT NULL, source_iso TEXT NOT NULL, received_us BIGINT NOT NULL, "
        "received_iso TEXT NOT NULL, late BIGINT NOT NULL, created BIGINT NOT NULL, "
        "changes TEXT NOT NULL, snapshot TEXT NOT NULL, PRIMARY KEY (ticket_id, version))",
        "CREATE INDEX IF NOT EXISTS {@versions_by_source} ON {versions} "
        "(ticket_id, source_us, position)",
        "CREATE TABLE IF NOT EXISTS {feed} (position BIGINT NOT NULL, seq BIGINT NOT NULL, "
        "ticket_id BIGINT NOT NULL, event_id BIGINT, version BIGINT NOT NULL, "
        "source_us BIGINT NOT NULL, source_iso TEXT NOT NULL, received_iso TEXT NOT NULL, "
        "path TEXT NOT NULL, op TEXT NOT NULL, old_value TEXT NOT NULL, "
        "new_value TEXT NOT NULL, PRIMARY KEY (position, seq))",
        "CREATE INDEX IF NOT EXISTS {@feed_by_ticket} ON {feed} (ticket_id, position, seq)",
        "CREATE INDEX IF NOT EXISTS {@feed_by_event} ON {feed} (event_id, position, seq)",
    )

    def apply(self, cursor: Cursor, changes: Sequence[LoggedChange]) -> None:
        # One at a time: a later change of the same ticket must see the rows of an earlier one.
        for change in changes:
            self._record(cursor, change)

    def _record(self, cursor: Cursor, change: LoggedChange) -> None:
        sql = self.view.sql
        # The new version has the highest position of its ticket, so among equal source times
        # every recorded version comes before it.
        cursor.execute(
            sql(
                f"SELECT {_NEIGHBOUR_COLUMNS} FROM {{versions}} WHERE ticket_id = ? "
                "AND source_us <= ? ORDER BY source_us DESC, position DESC LIMIT 1"
            ),
            (change.ticket_id, change.source_us),
        )
        predecessor = cursor.fetchone()
        cursor.execute(
            sql(
                f"SELECT {_NEIGHBOUR_COLUMNS} FROM {{versions}} WHERE ticket_id = ? "
                "AND source_us > ? ORDER BY source_us, position LIMIT 1"
            ),
            (change.ticket_id, change.source_us),
        )
        successor = cursor.fetchone()
        own_changes = diff(jsonio.load(predecessor["snapshot"]), change.data) if predecessor else []
        cursor.execute(
            sql("INSERT INTO {versions} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
            (
                change.ticket_id,
                change.version,
                change.position,
                change.event_id,
                change.source_us,
                change.source_time.isoformat(),
                change.received_us,
                change.received_at.isoformat(),
                int(successor is not None),
                int(predecessor is None),
                jsonio.dump(own_changes),
                jsonio.dump(change.data),
            ),
        )
        self._write_feed(cursor, _FeedVersion.of_change(change), own_changes)
        if successor is not None:
            self._recompute(cursor, change, successor)

    def _recompute(self, cursor: Cursor, change: LoggedChange, successor: Any) -> None:
        """The successor now follows `change`: its changes are against it, and not created."""
        recomputed = diff(change.data, jsonio.load(successor["snapshot"]))
        cursor.execute(
            self.view.sql(
                "UPDATE {versions} SET changes = ?, created = 0 WHERE ticket_id = ? AND version = ?"
            ),
            (jsonio.dump(recomputed), change.ticket_id, successor["version"]),
        )
        cursor.execute(
            self.view.sql("DELETE FROM {feed} WHERE position = ?"), (successor["position"],)
        )
        self._write_feed(cursor, _FeedVersion.of_row(change.ticket_id, successor), recomputed)

    def _write_feed(self, cursor: Cursor, version: _FeedVersion, changes: list[Change]) -> None:
        if not changes:
            return
        cursor.executemany(
            self.view.sql(
                "INSERT INTO {feed} (position, seq, ticket_id, event_id, version, source_us, "
                "source_iso, received_iso, path, op, old_value, new_value) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ),
            [
                (
                    version.position,
                    seq,
                    version.ticket_id,
                    version.event_id,
                    version.version,
                    version.source_us,
                    version.source_iso,
                    version.received_iso,
                    c["path"],
                    c["op"],
                    jsonio.dump(c["old"]),
                    jsonio.dump(c["new"]),
                )
                for seq, c in enumerate(changes)
            ],
        )


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
            source_iso=change.source_time.isoformat(),
            received_iso=change.received_at.isoformat(),
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
