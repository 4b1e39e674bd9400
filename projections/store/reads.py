"""How the query routes read a projection: one statement, one round trip, rows as tuples.

`ProjectionStore.reading()` opens a transaction, which on PostgreSQL adds a BEGIN and a
ROLLBACK round trip around the statement, each as dear to both sides as the SELECT itself.
A route's read is one statement, and one statement sees one snapshot on its own, so on
PostgreSQL it runs on the pool's autocommit connection. SQLite runs in process, where a
transaction costs no round trip and is how its pool hands out a reader.

Rows are tuples in the SELECT's column order (SQLite's rows unpack the same way): a dict per
row would cost more than the rest of reading a hundred of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg.rows import tuple_row

from projections.store.views import PostgresProjectionStore, ProjectionStore

Row = Sequence[Any]


def fetch_all(view: ProjectionStore, statement: str, params: Sequence[Any]) -> Sequence[Row]:
    """Every row `statement` (in the stores' `{table}` and `?` dialect) selects."""
    if isinstance(view, PostgresProjectionStore):
        with (
            view.datastore.get_connection() as connection,
            connection.cursor(row_factory=tuple_row) as cursor,
        ):
            cursor.execute(view.sql(statement), params)
            return cursor.fetchall()
    with view.reading() as cursor:
        cursor.execute(view.sql(statement), params)
        rows: Sequence[Row] = cursor.fetchall()
        return rows


def fetch_one(view: ProjectionStore, statement: str, params: Sequence[Any]) -> Row | None:
    """The first row `statement` selects, None when it selects nothing."""
    rows = fetch_all(view, statement, params)
    return rows[0] if rows else None
