"""Tables whose rows are rewritten with every change of their ticket (`tickets.current`,
`history.heads`) stay near their live size however often that is, on both backends and
without a vacuum (the test server runs with autovacuum off)."""

from __future__ import annotations

import pytest

from projections.history.projection import HistoryProjection
from projections.read_model import TicketProjection
from projections.runtime.answering import open_projection
from projections.store.views import PostgresProjectionStore, ProjectionStore
from projections.tickets.projection import TicketsProjection
from tests.projections.helpers import opened
from tests.projections.unit.helpers import Log

TICKETS, ROUNDS = 100, 40
ROW_PAYLOAD = {"name": "Pista " * 40, "description": "x" * 600}
# A row is over a kilobyte: the live rows fill about 13 pages of 8 KiB (26 with half of each
# page left for updates); every version kept would fill over 500.
LIVE_BYTES = TICKETS * 1024


def table_bytes(view: ProjectionStore, table: str) -> int:
    """The table's own pages (no indexes): PostgreSQL's heap, or SQLite's b-tree."""
    with view.reading() as cursor:
        if isinstance(view, PostgresProjectionStore):
            cursor.execute(view.sql(f"SELECT pg_relation_size('{{{table}}}')"))
        else:
            cursor.execute(f"SELECT sum(pgsize) FROM dbstat WHERE name = '{table}'")
        row = cursor.fetchone()
    return int(next(iter(row.values())) if isinstance(row, dict) else row[0])


@pytest.mark.parametrize(
    ("cls", "table"), [(TicketsProjection, "current"), (HistoryProjection, "heads")]
)
def test_rows_rewritten_again_and_again_keep_their_table_near_its_live_size(
    database_url: str, cls: type[TicketProjection], table: str
) -> None:
    log = Log()
    with opened(database_url) as (_, storage):
        projection = open_projection(storage, cls, 1)
        projection.bind_past(log)
        try:
            for minute in range(ROUNDS):
                # A batch rewrites every ticket's row once, as a follower's batch of the log
                # does when tickets change in turn, and pages hold several tickets' rows.
                changes = [
                    log.change(ticket, minute, quantity=minute, **ROW_PAYLOAD)
                    for ticket in range(1, TICKETS + 1)
                ]
                projection.process_batch(changes, changes[-1].position)
            size = table_bytes(projection.view, table)
        finally:
            projection.drop_tables()
            projection.view.close()
    assert size <= 4 * LIVE_BYTES, f"{table} takes {size} bytes for {TICKETS} rows"
