"""Tickets: where every version sits in the log (the time index), each ticket's current
state, hierarchy.

A past version's snapshot is the body the log keeps at its position, so the index holds only
its place (ticket, version, source time, received time, position); `current` keeps the one
snapshot most reads ask for.

Current means latest by source time, the later position winning ties, so a late delivery
never displaces a newer one. A group's `children` make its children known too: a ticket
never delivered on its own is listed with `knownVia: "group"` until it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from projections.read_model import (
    PLACE_IN_TIME,
    VERSIONS_BY_SOURCE,
    LoggedChange,
    TicketProjection,
    versions_columns,
    versions_table,
)
from projections.store.views import ROOM_FOR_UPDATES, Cursor
from service import json_codec

SUMMARY_FIELDS = ("name", "type", "quantity", "hidden", "archived", "salable", "available")

_VERSIONS_COLUMNS = versions_columns(*PLACE_IN_TIME)
_CURRENT_COLUMNS = (
    "ticket_id",
    "event_id",
    "version",
    "position",
    "source_us",
    "source_iso",
    "received_iso",
    "name",
    "type",
    "parent",
    "quantity",
    "hidden",
    "archived",
    "salable",
    "available",
    "known_via",
    "snapshot",
)


class TicketsProjection(TicketProjection):
    name = "tickets"
    tables: ClassVar[Sequence[str]] = ("versions", "current", "children")
    create_statements: ClassVar[Sequence[str]] = (
        versions_table(*PLACE_IN_TIME),
        VERSIONS_BY_SOURCE,
        "CREATE TABLE IF NOT EXISTS {current} (ticket_id BIGINT PRIMARY KEY, event_id BIGINT, "
        "version BIGINT, position BIGINT NOT NULL, source_us BIGINT NOT NULL, "
        "source_iso TEXT NOT NULL, received_iso TEXT NOT NULL, name TEXT, type TEXT, "
        "parent BIGINT, quantity TEXT, hidden TEXT, archived TEXT, salable TEXT, "
        "available TEXT, known_via TEXT NOT NULL, snapshot TEXT NOT NULL)" + ROOM_FOR_UPDATES,
        "CREATE INDEX IF NOT EXISTS {@current_by_event} ON {current} (event_id, ticket_id)",
        "CREATE INDEX IF NOT EXISTS {@current_by_parent} ON {current} (parent, ticket_id)",
        "CREATE TABLE IF NOT EXISTS {children} (group_id BIGINT NOT NULL, "
        "child_id BIGINT NOT NULL, PRIMARY KEY (group_id, child_id))",
    )

    def apply(self, cursor: Cursor, changes: Sequence[LoggedChange]) -> None:
        self.view.insert_rows(
            cursor,
            "versions",
            _VERSIONS_COLUMNS,
            [
                (
                    c.ticket_id,
                    c.version,
                    c.position,
                    c.event_id,
                    c.source_us,
                    c.source_iso,
                    c.received_us,
                    c.received_iso,
                )
                for c in changes
            ],
        )
        # Decided in memory, in log order, from the rows read once for the whole batch; each
        # decision updates `placed` so later changes of the same ticket see it.
        placed = self._current_places(cursor, changes)
        current_rows: dict[int, tuple[Any, ...]] = {}
        children_of: dict[int, list[int]] = {}
        for change in changes:
            if not _becomes_current(placed.get(change.ticket_id), change):
                continue
            placed[change.ticket_id] = _Place(change.source_us, change.position, "self")
            current_rows[change.ticket_id] = _current_row(change, change.data, change.version)
            children = _children(change.data)
            if children is None:
                continue
            children_of[change.ticket_id] = [int(child["id"]) for child in children]
            for child in children:
                child_id = int(child["id"])
                known = placed.get(child_id)
                if known is None or (
                    known.known_via == "group"
                    and (change.source_us, change.position) >= (known.source_us, known.position)
                ):
                    placed[child_id] = _Place(change.source_us, change.position, "group")
                    current_rows[child_id] = _current_row(change, child, None)
        self._write(cursor, current_rows, children_of)

    def _current_places(self, cursor: Cursor, changes: Sequence[LoggedChange]) -> dict[int, _Place]:
        """Where each ticket the batch touches (itself or as a group's child) stands now."""
        ids = {change.ticket_id for change in changes}
        for change in changes:
            children = _children(change.data)
            if children is not None:
                ids.update(int(child["id"]) for child in children)
        view = self.view
        cursor.execute(
            view.sql(
                "SELECT ticket_id, source_us, position, known_via FROM {current} "
                f"WHERE ticket_id IN ({view.integer_rows(('ticket_id',))})"
            ),
            (view.integer_rows_parameter([(ticket_id,) for ticket_id in sorted(ids)]),),
        )
        return {
            row["ticket_id"]: _Place(row["source_us"], row["position"], row["known_via"])
            for row in cursor.fetchall()
        }

    def _write(
        self,
        cursor: Cursor,
        current_rows: dict[int, tuple[Any, ...]],
        children_of: dict[int, list[int]],
    ) -> None:
        """The last row decided for each ticket, and each rewritten group's last children."""
        view = self.view
        view.upsert_rows(
            cursor, "current", _CURRENT_COLUMNS, "ticket_id", list(current_rows.values())
        )
        if children_of:
            view.delete_rows(cursor, "children", "group_id", list(children_of))
            # Every earlier row of these groups is gone, so the pairs cannot collide.
            pairs = {(g, child) for g, children in children_of.items() for child in children}
            view.insert_rows(cursor, "children", ("group_id", "child_id"), sorted(pairs))


@dataclass(frozen=True, slots=True)
class _Place:
    """What deciding a ticket's current row needs to know of the row it has."""

    source_us: int
    position: int
    known_via: str


def _children(data: dict[str, Any]) -> list[dict[str, Any]] | None:
    """A group's children; None when it sent none. `{}` is `[]`, as intake admits both."""
    children = data.get("children")
    if isinstance(children, list):
        return children
    return [] if children == {} else None


def _becomes_current(known: _Place | None, change: LoggedChange) -> bool:
    if known is None or known.known_via == "group":
        return True
    return (change.source_us, change.position) > (known.source_us, known.position)


def _current_row(
    change: LoggedChange, snapshot: dict[str, Any], version: int | None
) -> tuple[Any, ...]:
    """The `current` row of `snapshot`: the change's own, or one of its group's children."""
    summary = [_summary_value(snapshot.get(field)) for field in SUMMARY_FIELDS]
    own = version is not None
    return (
        change.ticket_id if own else int(snapshot["id"]),
        _int_or_none(snapshot.get("eventId")),
        version,
        change.position,
        change.source_us,
        change.source_iso,
        change.received_iso,
        *summary[:2],
        _int_or_none(snapshot.get("parent")),
        *summary[2:],
        "self" if own else "group",
        change.snapshot_json if own else json_codec.dump_text(snapshot),
    )


def _summary_value(value: Any) -> str | None:
    """Summary columns keep the JSON value as text, so any type Ingresse sends survives."""
    return None if value is None else json_codec.dump_text(value)


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
