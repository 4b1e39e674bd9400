"""Events a projection could not apply: its dead letters, kept in each generation's store.

A parked event's row and its tracked position commit together, so the projection moves past
it and applies everything after it. The table belongs to the generation, so a rebuild into a
new one starts without any: a rebuild after the fix clears them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from projections.store.reads import fetch_one
from projections.store.views import ProjectionStore

PARKED_TABLE = "parked"
PARKED_STATEMENTS = (
    "CREATE TABLE IF NOT EXISTS {parked} (position BIGINT PRIMARY KEY, "
    "ticket_id BIGINT NOT NULL, error TEXT NOT NULL, parked_at TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS {@parked_by_ticket} ON {parked} (ticket_id, position)",
)
# Enough of an error to say what went wrong; its repr of a value could be far longer.
ERROR_CHARS = 1000


def park(view: ProjectionStore, position: int, ticket_id: int, error: str) -> None:
    """Keep the event at `position` as not applied, and track it, in one transaction."""
    with view.writing() as cursor:
        cursor.execute(
            view.sql(
                "INSERT INTO {parked} (position, ticket_id, error, parked_at) VALUES (?, ?, ?, ?)"
            ),
            (position, ticket_id, error, datetime.now(UTC).isoformat()),
        )
        view.track(cursor, position)


def parked_count(view: ProjectionStore) -> int:
    row = fetch_one(view, "SELECT COUNT(*) FROM {parked}", ())
    return int(row[0]) if row else 0


def parked_for(view: ProjectionStore, ticket_id: int) -> dict[str, Any] | None:
    """The contract's `stale`: the ticket's earliest event this generation could not apply."""
    row = fetch_one(
        view,
        "SELECT position, error FROM {parked} WHERE ticket_id = ? ORDER BY position LIMIT 1",
        (ticket_id,),
    )
    if row is None:
        return None
    position, error = row
    return {"projection": view.projection_name, "position": position, "error": error}


def describe(error: BaseException) -> str:
    """One line naming what went wrong, storable in any TEXT column (no NUL)."""
    message = " ".join(str(error).split()).replace("\x00", "\\x00")
    text = f"{type(error).__name__}: {message}" if message else type(error).__name__
    return text[:ERROR_CHARS]
