"""Quantity history: each version's `quantity` and Ingresse's `quantityDiff`, as delivered.

Rows are kept per version, not per change: the points are derived when read, in source-time
order, so a late delivery lands between its neighbours without rewriting any stored row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from projections.read_model import LoggedChange, TicketProjection
from projections.store.views import Cursor
from service import json_codec


class QuantityProjection(TicketProjection):
    name = "quantity"
    tables: ClassVar[Sequence[str]] = ("versions",)
    create_statements: ClassVar[Sequence[str]] = (
        "CREATE TABLE IF NOT EXISTS {versions} (ticket_id BIGINT NOT NULL, "
        "version BIGINT NOT NULL, position BIGINT NOT NULL, source_us BIGINT NOT NULL, "
        "source_iso TEXT NOT NULL, quantity TEXT, quantity_diff TEXT, "
        "PRIMARY KEY (ticket_id, version))",
        "CREATE INDEX IF NOT EXISTS {@versions_by_source} ON {versions} "
        "(ticket_id, source_us, position)",
    )

    def apply(self, cursor: Cursor, changes: Sequence[LoggedChange]) -> None:
        self.view.insert_rows(
            cursor,
            "versions",
            (
                "ticket_id",
                "version",
                "position",
                "source_us",
                "source_iso",
                "quantity",
                "quantity_diff",
            ),
            [
                (
                    change.ticket_id,
                    change.version,
                    change.position,
                    change.source_us,
                    change.source_iso,
                    _json_or_none(change.data, "quantity"),
                    _json_or_none(change.data, "quantityDiff"),
                )
                for change in changes
            ],
        )


def _json_or_none(data: dict[str, Any], key: str) -> str | None:
    """JSON text, so integers of any size survive; NULL when the field was not sent."""
    return json_codec.dump_text(data[key]) if key in data else None
