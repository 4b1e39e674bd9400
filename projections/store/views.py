"""Where a projection keeps its rows and its tracked position, one class per backend.

Each store is the library's tracking recorder for its backend, so a projection writes its
rows and `_insert_tracking` in one transaction: a crash mid-apply neither loses nor doubles.
SQL in projections is written once with `?` placeholders and `{table}` names; the store
adapts both to its backend.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, cast

from eventsourcing.persistence import Tracking, TrackingRecorder
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteCursor, SQLiteDatastore, SQLiteTrackingRecorder
from psycopg import Cursor as PsycopgCursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composable, Composed, Identifier

from service import json_codec
from service.settings import DatabaseLocation

LOG_APPLICATION_NAME = "TicketAudit"

# `{name}` is a table; `{@name}` an index, which PostgreSQL names without a schema.
_TABLE_REFERENCE = re.compile(r"\{(@?\w+)\}")

# Ends the creation of a table whose rows are updated again and again (a ticket's current
# row). PostgreSQL writes an update as a new row: with room left in each page, it goes to the
# same page (a HOT update) and the page drops the old one the next time it is read, so the
# table stays near its live size without waiting for a vacuum. SQLite updates in place.
ROOM_FOR_UPDATES = " {%room_for_updates}"
_POSTGRES_ROOM_FOR_UPDATES = " WITH (fillfactor = 50)"


class Cursor(Protocol):
    def execute(self, statement: Any, params: Any = ..., /) -> Any: ...
    def executemany(self, statement: Any, params_seq: Any, /) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> Any: ...


class ProjectionStore(TrackingRecorder, ABC):
    """One generation of one projection's tables, with its tracking.

    Both backends' datastores open transactions the same way, so only naming, tracking's
    cursor type, dropping and closing differ between them.
    """

    projection_name: str
    generation: int
    datastore: Any  # each backend's own; both open transactions alike

    @abstractmethod
    def sql(self, statement: str) -> Any:
        """`statement` with `{name}` table references and `?` placeholders, for this backend."""

    @contextmanager
    def writing(self) -> Iterator[Cursor]:
        with self.datastore.transaction(commit=True) as cursor:
            yield cursor

    @contextmanager
    def reading(self) -> Iterator[Cursor]:
        with self.datastore.transaction(commit=False) as cursor:
            yield cursor

    @abstractmethod
    def track(self, cursor: Cursor, position: int) -> None: ...

    @abstractmethod
    def integer_rows(self, names: Sequence[str]) -> str:
        """A subquery of rows of integer columns `names`, from one `?` parameter: the rows as
        a JSON array of arrays (`integer_rows_parameter`).

        One parameter however many rows, so the statement's text is the same for every
        batch: the driver parses it once and the database plans it once. The planner cannot
        count the rows inside the parameter, so it suits lookups by a unique key, which it
        reads by index however many rows it expects; not ranges (see `HistoryProjection`).
        """

    @staticmethod
    def integer_rows_parameter(rows: Sequence[Sequence[int]]) -> str:
        return json_codec.dump_text(rows)

    # Writing many rows at once. SQLite runs in this process, so a statement per row costs
    # little there; PostgreSQL overrides these to make one round trip of a whole batch.

    def insert_rows(
        self, cursor: Cursor, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        if rows:
            cursor.executemany(
                self.sql(
                    f"INSERT INTO {{{table}}} ({', '.join(columns)}) "
                    f"VALUES ({', '.join('?' * len(columns))})"
                ),
                rows,
            )

    def upsert_rows(
        self,
        cursor: Cursor,
        table: str,
        columns: Sequence[str],
        key: str,
        rows: Sequence[Sequence[Any]],
    ) -> None:
        """Insert `rows`, replacing every other column of a row whose `key` exists already;
        at most one row per key."""
        if rows:
            cursor.executemany(
                self.sql(
                    f"INSERT INTO {{{table}}} ({', '.join(columns)}) "
                    f"VALUES ({', '.join('?' * len(columns))}) {_on_conflict(columns, key)}"
                ),
                rows,
            )

    def delete_rows(self, cursor: Cursor, table: str, column: str, values: Sequence[Any]) -> None:
        """Delete the rows whose `column` holds one of `values`."""
        if values:
            cursor.executemany(
                self.sql(f"DELETE FROM {{{table}}} WHERE {column} = ?"),
                [(value,) for value in values],
            )

    def tracked_position(self) -> int:
        return self.max_tracking_id(LOG_APPLICATION_NAME) or 0

    def create(self, statements: Sequence[str]) -> None:
        self.create_table()
        with self.writing() as cursor:
            for statement in statements:
                cursor.execute(self.sql(statement))

    @abstractmethod
    def create_table(self) -> None: ...

    @abstractmethod
    def drop(self, tables: Sequence[str]) -> None: ...

    @abstractmethod
    def close(self) -> None: ...


class SQLiteProjectionStore(SQLiteTrackingRecorder, ProjectionStore):
    """A projection generation in its own SQLite file beside the log.

    The library names the SQLite tracking table `tracking`, and one file has one writer at
    a time, so projections never share a file.
    """

    def __init__(self, location: DatabaseLocation, projection_name: str, generation: int):
        self.projection_name = projection_name
        self.generation = generation
        self.path = location.sibling_sqlite_path(f"{projection_name}.g{generation}")
        super().__init__(SQLiteDatastore(db_name=self.path, lock_timeout=30))

    def sql(self, statement: str) -> str:
        statement = statement.replace(ROOM_FOR_UPDATES, "")
        return _TABLE_REFERENCE.sub(lambda match: match.group(1).lstrip("@"), statement)

    def track(self, cursor: Cursor, position: int) -> None:
        self._insert_tracking(cast(SQLiteCursor, cursor), Tracking(LOG_APPLICATION_NAME, position))

    def integer_rows(self, names: Sequence[str]) -> str:
        columns = ", ".join(
            f"json_extract(value, '$[{index}]') AS {name}" for index, name in enumerate(names)
        )
        return f"SELECT {columns} FROM json_each(?)"

    def drop(self, tables: Sequence[str]) -> None:
        self.datastore.close()
        for suffix in ("", "-wal", "-shm"):
            Path(self.path + suffix).unlink(missing_ok=True)

    def close(self) -> None:
        self.datastore.close()


class PostgresProjectionStore(PostgresTrackingRecorder, ProjectionStore):
    """A projection generation as tables named `<projection>_g<N>_<table>` in the log's schema."""

    def __init__(
        self,
        datastore: PostgresDatastore,
        projection_name: str,
        generation: int,
        query_datastore: PostgresDatastore,
    ):
        self.projection_name = projection_name
        # Where the query routes read (`projections.store.reads`).
        self.query_datastore = query_datastore
        self.generation = generation
        self.prefix = f"{projection_name}_g{generation}_"
        self._rendered: dict[str, str] = {}
        super().__init__(datastore, tracking_table_name=f"{self.prefix}tracking")

    def sql(self, statement: str) -> str:
        # Rendered once per statement text: psycopg then reuses its parse of the plain string,
        # which it cannot do for a freshly composed query on every call.
        rendered = self._rendered.get(statement)
        if rendered is None:
            rendered = self._compose(statement).as_string(None)
            self._rendered[statement] = rendered
        return rendered

    def _compose(self, statement: str) -> Composed:
        schema = self.datastore.schema
        statement = statement.replace(ROOM_FOR_UPDATES, _POSTGRES_ROOM_FOR_UPDATES)
        parts = _TABLE_REFERENCE.split(statement.replace("?", "%s"))
        composed: list[Composable] = []
        for index, part in enumerate(parts):
            if index % 2 and part.startswith("@"):
                composed.append(Identifier(self.prefix + part[1:]))
            elif index % 2:
                composed.append(
                    SQL("{0}.{1}").format(Identifier(schema), Identifier(self.prefix + part))
                )
            else:
                composed.append(SQL(part))
        return SQL("").join(composed)

    def track(self, cursor: Cursor, position: int) -> None:
        self._insert_tracking(
            cast("PsycopgCursor[DictRow]", cursor), Tracking(LOG_APPLICATION_NAME, position)
        )

    def integer_rows(self, names: Sequence[str]) -> str:
        columns = ", ".join(
            f"CAST(row ->> {index} AS BIGINT) AS {name}" for index, name in enumerate(names)
        )
        return f"SELECT {columns} FROM json_array_elements(CAST(? AS json)) AS row"

    def insert_rows(
        self, cursor: Cursor, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        if not rows:
            return
        statement = self.sql(f"COPY {{{table}}} ({', '.join(columns)}) FROM STDIN")
        with cast("PsycopgCursor[DictRow]", cursor).copy(statement) as copy:
            for row in rows:
                copy.write_row(row)

    def upsert_rows(
        self,
        cursor: Cursor,
        table: str,
        columns: Sequence[str],
        key: str,
        rows: Sequence[Sequence[Any]],
    ) -> None:
        # The rows are copied into a temporary table of the same columns, then inserted from
        # it in one statement. COPY reads each value once, as its column's type; a JSON array
        # of the rows, the other way to send a batch in one statement, is parsed twice (as
        # JSON, then each field as its column's type) and cost PostgreSQL half as much again.
        if not rows:
            return
        names = ", ".join(columns)
        # Each connection keeps its own, emptied at every commit too.
        staged = "pg_temp." + Identifier(f"{self.prefix}{table}_staged").as_string(None)
        psycopg_cursor = cast("PsycopgCursor[DictRow]", cursor)
        psycopg_cursor.execute(
            self.sql(
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {staged} (LIKE {{{table}}}) "
                "ON COMMIT DELETE ROWS"
            )
        )
        with psycopg_cursor.copy(self.sql(f"COPY {staged} ({names}) FROM STDIN")) as copy:
            for row in rows:
                copy.write_row(row)
        # Emptied as it is read, so that a second call in the same transaction starts afresh.
        psycopg_cursor.execute(
            self.sql(
                f"WITH moved AS (DELETE FROM {staged} RETURNING {names}) "
                f"INSERT INTO {{{table}}} ({names}) SELECT {names} FROM moved "
                f"{_on_conflict(columns, key)}"
            )
        )

    def delete_rows(self, cursor: Cursor, table: str, column: str, values: Sequence[Any]) -> None:
        if values:
            cursor.execute(
                self.sql(f"DELETE FROM {{{table}}} WHERE {column} = ANY(?)"), (list(values),)
            )

    def drop(self, tables: Sequence[str]) -> None:
        with self.writing() as cursor:
            for table in [*tables, "tracking"]:
                cursor.execute(self.sql(f"DROP TABLE IF EXISTS {{{table}}}"))

    def close(self) -> None:
        """The datastore is shared by every projection on this database; its owner closes it."""


def _on_conflict(columns: Sequence[str], key: str) -> str:
    updates = ", ".join(f"{column} = excluded.{column}" for column in columns if column != key)
    return f"ON CONFLICT ({key}) DO UPDATE SET {updates}"
