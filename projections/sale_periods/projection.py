"""Sale periods: each version's `salePeriods` list, as delivered, with its place in time.

Timelines are derived when read, walking versions in source-time order, so a late delivery
takes its place among the others without rewriting any stored row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from projections.read_model import LoggedChange, TicketProjection
from projections.store.views import Cursor
from service import json_codec


class SalePeriodsProjection(TicketProjection):
    name = "sale_periods"
    tables: ClassVar[Sequence[str]] = ("versions",)
    create_statements: ClassVar[Sequence[str]] = (
        "CREATE TABLE IF NOT EXISTS {versions} (ticket_id BIGINT NOT NULL, "
        "version BIGINT NOT NULL, position BIGINT NOT NULL, source_us BIGINT NOT NULL, "
        "source_iso TEXT NOT NULL, sale_periods TEXT, PRIMARY KEY (ticket_id, version))",
        "CREATE INDEX IF NOT EXISTS {@versions_by_source} ON {versions} "
        "(ticket_id, source_us, position)",
    )

    def apply(self, cursor: Cursor, changes: Sequence[LoggedChange]) -> None:
        self.view.insert_rows(
            cursor,
            "versions",
            ("ticket_id", "version", "position", "source_us", "source_iso", "sale_periods"),
            [
                (
                    change.ticket_id,
                    change.version,
                    change.position,
                    change.source_us,
                    change.source_iso,
                    # NULL keeps "not sent" apart from an explicit empty list.
                    json_codec.dump_text(change.data["salePeriods"])
                    if "salePeriods" in change.data
                    else None,
                )
                for change in changes
            ],
        )
