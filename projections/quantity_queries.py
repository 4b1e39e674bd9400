"""Reading the quantity projection: the points where a ticket's quantity changed."""

from __future__ import annotations

from typing import Any

from projections import jsonio
from projections.changes import json_equal
from projections.store import ProjectionStore


def quantity_points(view: ProjectionStore, ticket_id: int) -> list[dict[str, Any]] | None:
    """One point per change of `quantity` in source-time order; None for an unknown ticket.

    The first version that has a quantity is a point with `delta` null: there is nothing
    before it to subtract. Versions without a quantity neither make a point nor hide the
    previous one, and a quantity equal to the previous (`1` and `1.0` alike) is no change.
    Intake admits only integers as `quantity`, so the subtraction always has numbers.
    """
    with view.reading() as cursor:
        cursor.execute(
            view.sql(
                "SELECT version, source_iso, quantity, quantity_diff FROM {versions} "
                "WHERE ticket_id = ? ORDER BY source_us, position"
            ),
            (ticket_id,),
        )
        rows = cursor.fetchall()
    if not rows:
        return None
    points: list[dict[str, Any]] = []
    previous: Any = None
    for row in rows:
        if row["quantity"] is None:
            continue
        quantity = jsonio.load(row["quantity"])
        if points and json_equal(quantity, previous):
            continue
        diff_text = row["quantity_diff"]
        points.append(
            {
                "sourceTimestamp": row["source_iso"],
                "version": row["version"],
                "quantity": quantity,
                "delta": quantity - previous if points else None,
                "quantityDiff": None if diff_text is None else jsonio.load(diff_text),
            }
        )
        previous = quantity
    return points
