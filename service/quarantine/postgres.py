"""The quarantine as its own table in the log's PostgreSQL schema, reached through its own pool."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import Connection, Cursor
from psycopg.rows import TupleRow
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from service import database
from service.quarantine import (
    QuarantinedDelivery,
    QuarantineUnavailable,
    as_utc,
    check_limit,
    decode_detail,
    encode_detail,
)
from service.settings import DatabaseLocation

TABLE = "quarantine"
DROPPED_TABLE = "quarantine_dropped"


class PostgresQuarantine:
    def __init__(self, location: DatabaseLocation, max_items: int) -> None:
        self.dropped = 0
        self._max_items = max_items
        self._schema = schema = location.schema
        self._dropped_lock = threading.Lock()
        self._setup_lock = threading.Lock()
        self._table_ready = False
        table = SQL("{0}.{1}").format(Identifier(schema), Identifier(TABLE))
        # GENERATED ALWAYS: ids come only from the sequence, so they are never reused once the
        # oldest rows are dropped and page cursors stay valid.
        self._create_table = SQL(
            "CREATE TABLE IF NOT EXISTS {0} ("
            "id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, error text NOT NULL, "
            "detail text NOT NULL, received_at timestamptz NOT NULL, size bigint NOT NULL, "
            "body bytea NOT NULL)"
        ).format(table)
        self._insert = SQL(
            "INSERT INTO {0} (error, detail, received_at, size, body) "
            "VALUES (%s, %s, %s, %s, %s) RETURNING id"
        ).format(table)
        self._trim = SQL(
            "DELETE FROM {0} WHERE id <= (SELECT id FROM {0} ORDER BY id DESC OFFSET %s LIMIT 1)"
        ).format(table)
        columns = SQL("SELECT id, error, detail, received_at, size, body FROM {0} ").format(table)
        self._select_one = columns + SQL("WHERE id = %s")
        self._select_newest = columns + SQL("ORDER BY id DESC LIMIT %s")
        self._select_before = columns + SQL("WHERE id < %s ORDER BY id DESC LIMIT %s")
        self._count = SQL("SELECT count(*) FROM {0}").format(table)
        dropped = SQL("{0}.{1}").format(Identifier(schema), Identifier(DROPPED_TABLE))
        # One row: how many deliveries were ever dropped to keep the bound.
        self._create_dropped = SQL(
            "CREATE TABLE IF NOT EXISTS {0} "
            "(id smallint PRIMARY KEY CHECK (id = 1), dropped bigint NOT NULL)"
        ).format(dropped)
        self._add_dropped = SQL(
            "INSERT INTO {0} AS kept (id, dropped) VALUES (1, %s) "
            "ON CONFLICT (id) DO UPDATE SET dropped = kept.dropped + excluded.dropped "
            "RETURNING dropped"
        ).format(dropped)
        self._select_dropped = SQL("SELECT dropped FROM {0} WHERE id = 1").format(dropped)
        self._pool: ConnectionPool[Connection[TupleRow]] = ConnectionPool(
            database.conninfo(
                location,
                "quarantine",
                options=f"-c statement_timeout={database.QUARANTINE_STATEMENT_TIMEOUT_MS}",
            ),
            min_size=1,
            max_size=database.QUARANTINE_POOL_SIZE,
            timeout=database.QUARANTINE_POOL_WAIT_SECONDS,
            name="quarantine",
            # Connections dropped while idle (a server restart) are replaced, not handed out.
            check=ConnectionPool.check_connection,
            open=False,
        )
        # Not waiting for a first connection: the service starts, and keeps the log, while this
        # server is unreachable; the store's methods report it instead.
        self._pool.open(wait=False)

    def add(self, error: str, detail: object, received_at: datetime, size: int, body: bytes) -> int:
        row = (error, encode_detail(detail), as_utc(received_at), size, body)
        total = None
        with self._cursor() as cur:
            cur.execute(self._insert, row)
            inserted = cur.fetchone()
            cur.execute(self._trim, (self._max_items,))
            if cur.rowcount:
                cur.execute(self._add_dropped, (cur.rowcount,))
                total = cur.fetchone()
        # Counted only once the transaction has committed.
        if total is not None:
            self._set_dropped(int(total[0]))
        assert inserted is not None
        return int(inserted[0])

    def load_dropped(self) -> int:
        with self._cursor() as cur:
            cur.execute(self._select_dropped)
            row = cur.fetchone()
        self._set_dropped(0 if row is None else int(row[0]))
        return self.dropped

    def _set_dropped(self, total: int) -> None:
        # Concurrent adds commit in some order; the count only grows, so the highest is newest.
        with self._dropped_lock:
            self.dropped = max(self.dropped, total)

    def page(self, limit: int, before_id: int | None) -> list[QuarantinedDelivery]:
        check_limit(limit)
        with self._cursor() as cur:
            if before_id is None:
                cur.execute(self._select_newest, (limit,))
            else:
                cur.execute(self._select_before, (before_id, limit))
            rows = cur.fetchall()
        return [_delivery(row) for row in rows]

    def get(self, quarantine_id: int) -> QuarantinedDelivery | None:
        with self._cursor() as cur:
            cur.execute(self._select_one, (quarantine_id,))
            row = cur.fetchone()
        return None if row is None else _delivery(row)

    def count(self) -> int:
        with self._cursor() as cur:
            cur.execute(self._count)
            row = cur.fetchone()
        assert row is not None
        return int(row[0])

    def close(self) -> None:
        self._pool.close()

    @contextmanager
    def _cursor(self) -> Iterator[Cursor[TupleRow]]:
        """A cursor in a transaction that commits when the block ends without an exception."""
        try:
            with self._pool.connection() as conn:
                self._ensure_table(conn)
                with conn.cursor() as cur:
                    yield cur
        except psycopg.Error as error:
            # psycopg's own messages name the host and port, so only the kind is passed on.
            raise QuarantineUnavailable(
                f"quarantine storage unavailable ({type(error).__name__})"
            ) from error

    def _ensure_table(self, conn: Connection[TupleRow]) -> None:
        # Done on first use rather than at construction, which must succeed with the server down.
        if self._table_ready:
            return
        with self._setup_lock:
            if self._table_ready:
                return
            with conn.transaction(), conn.cursor() as cur:
                # CREATE SCHEMA checks a privilege on the database even when the schema exists,
                # which a role given an existing schema may lack.
                cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (self._schema,))
                if cur.fetchone() is None:
                    cur.execute(
                        SQL("CREATE SCHEMA IF NOT EXISTS {0}").format(Identifier(self._schema))
                    )
                cur.execute(self._create_table)
                cur.execute(self._create_dropped)
            self._table_ready = True


def _delivery(row: Any) -> QuarantinedDelivery:
    quarantine_id, error, detail, received_at, size, body = row
    return QuarantinedDelivery(
        id=quarantine_id,
        error=error,
        detail=decode_detail(detail),
        received_at=received_at.astimezone(UTC),
        size=size,
        body=bytes(body),
    )
