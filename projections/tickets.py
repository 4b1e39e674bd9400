"""Tickets: every recorded snapshot (the time index), each ticket's current state, hierarchy.

Current means latest by source time, the later position winning ties, so a late delivery
never displaces a newer one. A group's `children` make its children known too: a ticket
never delivered on its own is listed with `knownVia: "group"` until it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from projections import jsonio
from projections.base import LoggedChange, TicketProjection
from projections.store import Cursor

SUMMARY_FIELDS = ("name", "type", "quantity", "hidden", "archived", "salable", "available")

_CURRENT_COLUMNS = (
    "ticket_id, event_id, version, position, source_us, source_iso, received_iso, "
    "name, type, parent, quantity, hidden, archived, salable, available, known_via, snapshot"
)


class TicketsProjection(TicketProjection):
    name = "tickets"
    tables: ClassVar[Sequence[str]] = ("versions", "current", "children")
    create_statements: ClassVar[Sequence[str]] = (
        "CREATE TABLE IF NOT EXISTS {versions} (ticket_id BIGINT NOT NULL, "
        "version BIGINT NOT NULL, position BIGINT NOT NULL, event_id BIGINT, "
        "source_us BIGINT NOT NULL, source_iso TEXT NOT NULL, received_us BIGINT NOT NULL, "
        "received_iso TEXT NOT NULL, snapshot TEXT NOT NULL, PRIMARY KEY (ticket_id, version))",
        "CREATE INDEX IF NOT EXISTS {@versions_by_source} ON {versions} "
        "(ticket_id, source_us, position)",
        "CREATE TABLE IF NOT EXISTS {current} (ticket_id BIGINT PRIMARY KEY, event_id BIGINT, "
        "version BIGINT, position BIGINT NOT NULL, source_us BIGINT NOT NULL, "
        "source_iso TEXT NOT NULL, received_iso TEXT NOT NULL, name TEXT, type TEXT, "
        "parent BIGINT, quantity TEXT, hidden TEXT, archived TEXT, salable TEXT, "
        "available TEXT, known_via TEXT NOT NULL, snapshot TEXT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS {@current_by_event} ON {current} (event_id, ticket_id)",
        "CREATE INDEX IF NOT EXISTS {@current_by_parent} ON {current} (parent, ticket_id)",
        "CREATE TABLE IF NOT EXISTS {children} (group_id BIGINT NOT NULL, "
        "child_id BIGINT NOT NULL, PRIMARY KEY (group_id, child_id))",
    )

    def apply(self, cursor: Cursor, changes: Sequence[LoggedChange]) -> None:
        sql = self.view.sql
        cursor.executemany(
            sql("INSERT INTO {versions} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
            [
                (
                    c.ticket_id,
                    c.version,
                    c.position,
                    c.event_id,
                    c.source_us,
                    c.source_time.isoformat(),
                    c.received_us,
                    c.received_at.isoformat(),
                    jsonio.dump(c.data),
                )
                for c in changes
            ],
        )
        for change in changes:
            if self._becomes_current(cursor, change):
                self._write_current(cursor, change, change.data, change.version, "self")
                self._write_children(cursor, change)

    def _becomes_current(self, cursor: Cursor, change: LoggedChange) -> bool:
        cursor.execute(
            self.view.sql(
                "SELECT source_us, position, known_via FROM {current} WHERE ticket_id = ?"
            ),
            (change.ticket_id,),
        )
        row = cursor.fetchone()
        if row is None or row["known_via"] == "group":
            return True
        return (change.source_us, change.position) > (row["source_us"], row["position"])

    def _write_current(
        self,
        cursor: Cursor,
        change: LoggedChange,
        snapshot: dict[str, Any],
        version: int | None,
        known_via: str,
    ) -> None:
        summary = [_summary_value(snapshot.get(field)) for field in SUMMARY_FIELDS]
        parent = snapshot.get("parent")
        cursor.execute(
            self.view.sql(
                f"INSERT INTO {{current}} ({_CURRENT_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (ticket_id) DO UPDATE SET event_id = excluded.event_id, "
                "version = excluded.version, position = excluded.position, "
                "source_us = excluded.source_us, source_iso = excluded.source_iso, "
                "received_iso = excluded.received_iso, name = excluded.name, "
                "type = excluded.type, parent = excluded.parent, "
                "quantity = excluded.quantity, hidden = excluded.hidden, "
                "archived = excluded.archived, salable = excluded.salable, "
                "available = excluded.available, known_via = excluded.known_via, "
                "snapshot = excluded.snapshot"
            ),
            (
                int(snapshot["id"]) if known_via == "group" else change.ticket_id,
                _int_or_none(snapshot.get("eventId")),
                version,
                change.position,
                change.source_us,
                change.source_time.isoformat(),
                change.received_at.isoformat(),
                *summary[:2],
                _int_or_none(parent),
                *summary[2:],
                known_via,
                jsonio.dump(snapshot),
            ),
        )

    def _write_children(self, cursor: Cursor, change: LoggedChange) -> None:
        children = change.data.get("children")
        if not isinstance(children, list):
            return
        sql = self.view.sql
        cursor.execute(sql("DELETE FROM {children} WHERE group_id = ?"), (change.ticket_id,))
        for child in children:
            child_id = child["id"]
            cursor.execute(
                sql("INSERT INTO {children} VALUES (?, ?) ON CONFLICT DO NOTHING"),
                (change.ticket_id, child_id),
            )
            cursor.execute(
                sql("SELECT known_via, source_us, position FROM {current} WHERE ticket_id = ?"),
                (child_id,),
            )
            row = cursor.fetchone()
            if row is None or (
                row["known_via"] == "group"
                and (change.source_us, change.position) >= (row["source_us"], row["position"])
            ):
                self._write_current(cursor, change, child, None, "group")


def _summary_value(value: Any) -> str | None:
    """Summary columns keep the JSON value as text, so any type Ingresse sends survives."""
    return None if value is None else jsonio.dump(value)


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
