"""How the query routes read a projection: one statement, one round trip, rows as tuples.

`ProjectionStore.reading()` opens a transaction, which on PostgreSQL adds a BEGIN and a
ROLLBACK round trip around the statement, each as dear to both sides as the SELECT itself.
A route's read is one statement, and one statement sees one snapshot on its own, so on
PostgreSQL it runs on an autocommit connection of the query routes' own pool. SQLite runs in
process, where a transaction costs no round trip and is how its pool hands out a reader.

That pool does not check a connection before handing it out (a round trip per read). A read
that finds its connection dropped by the server (a restart, an idle timeout) has the pool
check its idle ones, so the other dead ones go too, and reads once more: a read changes
nothing, so reading again is safe, and no query answers 503 for a database that is back.

Rows are tuples in the SELECT's column order (SQLite's rows unpack the same way): a dict per
row would cost more than the rest of reading a hundred of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from projections.store.views import PostgresProjectionStore, ProjectionStore

Row = Sequence[Any]


def fetch_all(view: ProjectionStore, statement: str, params: Sequence[Any]) -> Sequence[Row]:
    """Every row `statement` (in the stores' `{table}` and `?` dialect) selects."""
    if isinstance(view, PostgresProjectionStore):
        try:
            return _fetch_on_pool(view, statement, params)
        except _DroppedConnection:
            view.query_datastore.pool.check()
            return _fetch_on_pool(view, statement, params, again=True)
    with view.reading() as cursor:
        cursor.execute(view.sql(statement), params)
        rows: Sequence[Row] = cursor.fetchall()
        return rows


def fetch_one(view: ProjectionStore, statement: str, params: Sequence[Any]) -> Row | None:
    """The first row `statement` selects, None when it selects nothing."""
    rows = fetch_all(view, statement, params)
    return rows[0] if rows else None


class _DroppedConnection(Exception):
    """The pooled connection a read was given had been closed by the server."""


def _fetch_on_pool(
    view: PostgresProjectionStore, statement: str, params: Sequence[Any], again: bool = False
) -> Sequence[Row]:
    with view.query_datastore.get_connection() as connection:
        try:
            with connection.cursor(row_factory=tuple_row) as cursor:
                cursor.execute(view.sql(statement), params)
                return cursor.fetchall()
        except psycopg.OperationalError as error:
            # Only a connection that was dead before the read began is worth reading again
            # on; any other failure (a timeout, a database that is down) is answered as is.
            if again or not connection.broken:
                raise
            raise _DroppedConnection from error
