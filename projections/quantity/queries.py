"""Reading the quantity projection: the points where a ticket's quantity changed."""

from __future__ import annotations

from typing import Any

from projections.diff.changes import json_equal
from projections.store.reads import fetch_all
from projections.store.views import ProjectionStore
from service import json_codec


def quantity_points(view: ProjectionStore, ticket_id: int) -> list[dict[str, Any]] | None:
    """One point per change of `quantity` in source-time order; None for an unknown ticket.

    The first version that has a quantity is a point with `delta` null: there is nothing
    before it to subtract. Versions without a quantity neither make a point nor hide the
    previous one, and a quantity equal to the previous (`1` and `1.0` alike) is no change.
    Intake admits only integers as `quantity`, so the subtraction always has numbers.
    """
    rows = fetch_all(
        view,
        "SELECT version, source_iso, quantity, quantity_diff FROM {versions} "
        "WHERE ticket_id = ? ORDER BY source_us, position",
        (ticket_id,),
    )
    if not rows:
        return None
    points: list[dict[str, Any]] = []
    previous: Any = None
    for version, source_iso, quantity_text, diff_text in rows:
        if quantity_text is None:
            continue
        quantity = _number(quantity_text)
        if points and json_equal(quantity, previous):
            continue
        points.append(
            {
                "sourceTimestamp": source_iso,
                "version": version,
                "quantity": quantity,
                "delta": quantity - previous if points else None,
                "quantityDiff": None if diff_text is None else _number(diff_text),
            }
        )
        previous = quantity
    return points


def _number(text: str) -> Any:
    """A stored `quantity` or `quantityDiff`: JSON text that is nearly always an integer,
    which `int` reads exactly (at any size) for a fraction of a JSON decoder's cost."""
    try:
        return int(text)
    except ValueError:
        return json_codec.loads(text)
