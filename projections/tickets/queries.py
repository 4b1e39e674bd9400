"""Reading the tickets projection: a ticket's state now, as of a time, or at a version.

A past version is found in the index and its snapshot read from the log at its position.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from projections.read_model import PastSnapshots
from projections.store.reads import Row, fetch_all, fetch_one
from projections.store.views import ProjectionStore
from projections.tickets.projection import SUMMARY_FIELDS
from service import json_codec

_VERSION_COLUMNS = "ticket_id, event_id, version, position, source_iso, received_iso"


def current_state(view: ProjectionStore, ticket_id: int) -> dict[str, Any] | None:
    row = fetch_one(
        view,
        "SELECT ticket_id, event_id, version, position, source_iso, received_iso, known_via, "
        "snapshot FROM {current} WHERE ticket_id = ?",
        (ticket_id,),
    )
    if row is None:
        return None
    *place, known_via, snapshot = row
    return _state(place, known_via, json_codec.loads(snapshot))


def state_as_of(
    view: ProjectionStore,
    past: PastSnapshots,
    ticket_id: int,
    source_us: int | None,
    received_us: int | None,
) -> dict[str, Any] | None:
    """The snapshot with the latest source time <= `source_us`, among those received by then."""
    conditions, params = ["ticket_id = ?"], [ticket_id]
    if source_us is not None:
        conditions.append("source_us <= ?")
        params.append(source_us)
    if received_us is not None:
        conditions.append("received_us <= ?")
        params.append(received_us)
    return _past_state(
        view,
        past,
        f"SELECT {_VERSION_COLUMNS} FROM {{versions}} WHERE {' AND '.join(conditions)} "
        "ORDER BY source_us DESC, position DESC LIMIT 1",
        tuple(params),
    )


def state_at_version(
    view: ProjectionStore, past: PastSnapshots, ticket_id: int, version: int
) -> dict[str, Any] | None:
    return _past_state(
        view,
        past,
        f"SELECT {_VERSION_COLUMNS} FROM {{versions}} WHERE ticket_id = ? AND version = ?",
        (ticket_id, version),
    )


def list_current(
    view: ProjectionStore,
    *,
    event_id: int | None,
    ticket_type: str | None,
    parent: int | None,
    after_ticket_id: int | None,
    limit: int,
) -> list[dict[str, Any]]:
    conditions: list[str] = []
    params: list[Any] = []
    for column, value in (("event_id", event_id), ("parent", parent)):
        if value is not None:
            conditions.append(f"{column} = ?")
            params.append(value)
    if ticket_type is not None:
        conditions.append("type = ?")
        params.append(json_codec.dump_text(ticket_type))
    if after_ticket_id is not None:
        conditions.append("ticket_id > ?")
        params.append(after_ticket_id)
    where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
    rows = fetch_all(
        view,
        f"SELECT {_SUMMARY_COLUMNS} FROM {{current}} {where}ORDER BY ticket_id LIMIT ?",
        (*params, limit),
    )
    return [_summary(row) for row in rows]


def event_ticket_counts(view: ProjectionStore, limit: int) -> list[dict[str, Any]]:
    """Each Ingresse event with how many tickets it has now, by eventId (null last)."""
    rows = fetch_all(
        view,
        "SELECT event_id, count(*) FROM {current} GROUP BY event_id "
        "ORDER BY event_id IS NULL, event_id LIMIT ?",
        (limit,),
    )
    return [{"eventId": event_id, "tickets": count} for event_id, count in rows]


def find_by_name(view: ProjectionStore, text: str, limit: int) -> list[dict[str, Any]]:
    """Current states whose name holds `text`, ignoring case, by ticket id.

    `name` is stored as JSON text, so `text` is looked for as it would be written in JSON;
    `%`, `_` and the escape character match only themselves.
    """
    written = json_codec.dump_text(text)[1:-1].lower()
    pattern = "%" + "".join(f"!{c}" if c in "%_!" else c for c in written) + "%"
    rows = fetch_all(
        view,
        f"SELECT {_SUMMARY_COLUMNS} FROM {{current}} "
        "WHERE lower(name) LIKE ? ESCAPE '!' ORDER BY ticket_id LIMIT ?",
        (pattern, limit),
    )
    return [_summary(row) for row in rows]


def current_snapshots(view: ProjectionStore, ticket_ids: Sequence[int]) -> dict[int, Any]:
    """The current snapshot of each of `ticket_ids` that is known."""
    if not ticket_ids:
        return {}
    marks = ", ".join("?" for _ in ticket_ids)
    rows = fetch_all(
        view,
        f"SELECT ticket_id, snapshot FROM {{current}} WHERE ticket_id IN ({marks})",
        ticket_ids,
    )
    return {ticket_id: json_codec.loads(snapshot) for ticket_id, snapshot in rows}


def children_of(
    view: ProjectionStore, ticket_id: int, *, after_ticket_id: int | None, limit: int
) -> list[dict[str, Any]] | None:
    """Children named by the group's current snapshot or, delivered on their own, naming it.

    A ticket known only from a group has that group's old word for its `parent`; once the
    group's current snapshot leaves it out, it is no longer a child.
    """
    after = "" if after_ticket_id is None else "AND ticket_id > ? "
    rows = fetch_all(
        view,
        f"SELECT {_SUMMARY_COLUMNS} FROM {{current}} "
        "WHERE ((parent = ? AND known_via = 'self') "
        "OR ticket_id IN (SELECT child_id FROM {children} WHERE group_id = ?)) "
        f"{after}ORDER BY ticket_id LIMIT ?",
        (ticket_id, ticket_id, *([] if after_ticket_id is None else [after_ticket_id]), limit),
    )
    # A ticket's current row is never removed, so asking only when no child was found tells
    # an unknown ticket from one without children as well as one snapshot would.
    if (
        not rows
        and fetch_one(view, "SELECT 1 FROM {current} WHERE ticket_id = ?", (ticket_id,)) is None
    ):
        return None
    return [_summary(row) for row in rows]


def _past_state(
    view: ProjectionStore, past: PastSnapshots, statement: str, params: tuple[Any, ...]
) -> dict[str, Any] | None:
    """The version `statement` finds in the index, with its snapshot from the log."""
    row = fetch_one(view, statement, params)
    if row is None:
        return None
    position = row[3]
    snapshot = past.snapshots_at((position,)).get(position)
    if snapshot is None:
        # The index only names positions the log holds, and the log loses none.
        raise LookupError(f"the log holds no change at position {position}")
    return _state(row, "self", snapshot)


def _state(place: Sequence[Any], known_via: str, snapshot: Any) -> dict[str, Any]:
    ticket_id, event_id, version, position, source_iso, received_iso = place
    return {
        "ticketId": ticket_id,
        "eventId": event_id,
        "version": version,
        "position": position,
        "sourceTimestamp": source_iso,
        "receivedAt": received_iso,
        "knownVia": known_via,
        "snapshot": snapshot,
    }


# What `_summary` unpacks, in its order.
_SUMMARY_COLUMNS = "ticket_id, event_id, parent, version, source_iso, known_via, " + ", ".join(
    SUMMARY_FIELDS
)


def _summary(row: Row) -> dict[str, Any]:
    """A summary from a row of `_SUMMARY_COLUMNS`."""
    ticket_id, event_id, parent, version, source_iso, known_via, *fields = row
    summary: dict[str, Any] = {
        "ticketId": ticket_id,
        "eventId": event_id,
        "parent": parent,
        "version": version,
        "sourceTimestamp": source_iso,
        "knownVia": known_via,
    }
    for field, text in zip(SUMMARY_FIELDS, fields, strict=True):
        summary[field] = None if text is None else json_codec.loads(text)
    return summary
