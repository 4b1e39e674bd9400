"""The quarantine in its own SQLite file beside the log's."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from service.quarantine import (
    QuarantinedDelivery,
    QuarantineUnavailable,
    as_utc,
    check_limit,
    decode_detail,
    encode_detail,
)

LOCK_TIMEOUT_SECONDS = 5

# AUTOINCREMENT so that ids are never reused once the oldest rows are dropped: an id an
# operator has seen keeps naming the same delivery, and page cursors stay valid.
CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    error TEXT NOT NULL,
    detail TEXT NOT NULL,
    received_at TEXT NOT NULL,
    size INTEGER NOT NULL,
    body BLOB NOT NULL
)
"""
INSERT = "INSERT INTO quarantine (error, detail, received_at, size, body) VALUES (?, ?, ?, ?, ?)"
TRIM = (
    "DELETE FROM quarantine WHERE id <= "
    "(SELECT id FROM quarantine ORDER BY id DESC LIMIT 1 OFFSET ?)"
)
SELECT_ONE = "SELECT id, error, detail, received_at, size, body FROM quarantine WHERE id = ?"
SELECT_NEWEST = (
    "SELECT id, error, detail, received_at, size, body FROM quarantine ORDER BY id DESC LIMIT ?"
)
SELECT_BEFORE = (
    "SELECT id, error, detail, received_at, size, body FROM quarantine "
    "WHERE id < ? ORDER BY id DESC LIMIT ?"
)
COUNT = "SELECT count(*) FROM quarantine"
# One row: how many deliveries were ever dropped to keep the bound.
CREATE_DROPPED = (
    "CREATE TABLE IF NOT EXISTS quarantine_dropped "
    "(id INTEGER PRIMARY KEY CHECK (id = 1), dropped INTEGER NOT NULL)"
)
ADD_DROPPED = (
    "INSERT INTO quarantine_dropped (id, dropped) VALUES (1, ?) "
    "ON CONFLICT (id) DO UPDATE SET dropped = dropped + excluded.dropped"
)
SELECT_DROPPED = "SELECT dropped FROM quarantine_dropped WHERE id = 1"


class SQLiteQuarantine:
    def __init__(self, path: str, max_items: int) -> None:
        self.dropped = 0
        self._path = path
        self._max_items = max_items
        # One connection shared by the HTTP layer's worker threads, used by one at a time.
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._closed = False

    def add(self, error: str, detail: object, received_at: datetime, size: int, body: bytes) -> int:
        row = (error, encode_detail(detail), as_utc(received_at).isoformat(), size, body)
        with self._session() as conn:
            with conn:
                quarantine_id = conn.execute(INSERT, row).lastrowid
                trimmed = conn.execute(TRIM, (self._max_items,)).rowcount
                if trimmed:
                    conn.execute(ADD_DROPPED, (trimmed,))
                    total = _dropped(conn)
            # Counted only once the transaction has committed.
            if trimmed:
                self.dropped = total
        assert quarantine_id is not None
        return quarantine_id

    def load_dropped(self) -> int:
        with self._session() as conn:
            self.dropped = _dropped(conn)
        return self.dropped

    def page(self, limit: int, before_id: int | None) -> list[QuarantinedDelivery]:
        check_limit(limit)
        with self._session() as conn:
            if before_id is None:
                rows = conn.execute(SELECT_NEWEST, (limit,)).fetchall()
            else:
                rows = conn.execute(SELECT_BEFORE, (before_id, limit)).fetchall()
        return [_delivery(row) for row in rows]

    def get(self, quarantine_id: int) -> QuarantinedDelivery | None:
        with self._session() as conn:
            row = conn.execute(SELECT_ONE, (quarantine_id,)).fetchone()
        return None if row is None else _delivery(row)

    def count(self) -> int:
        with self._session() as conn:
            (rows,) = conn.execute(COUNT).fetchone()
        return int(rows)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @contextmanager
    def _session(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._closed:
                raise QuarantineUnavailable("quarantine is closed")
            try:
                yield self._connection()
            except sqlite3.Error as error:
                raise QuarantineUnavailable(
                    f"quarantine storage failed ({type(error).__name__})"
                ) from error

    def _connection(self) -> sqlite3.Connection:
        # Opened on first use, and again after a failed open, so that a missing or locked
        # file at start-up does not stop the service.
        if self._conn is None:
            conn = sqlite3.connect(
                self._path, timeout=LOCK_TIMEOUT_SECONDS, check_same_thread=False
            )
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                with conn:
                    conn.execute(CREATE_TABLE)
                    conn.execute(CREATE_DROPPED)
            except sqlite3.Error:
                conn.close()
                raise
            self._conn = conn
        return self._conn


def _dropped(conn: sqlite3.Connection) -> int:
    row = conn.execute(SELECT_DROPPED).fetchone()
    return 0 if row is None else int(row[0])


def _delivery(row: Any) -> QuarantinedDelivery:
    quarantine_id, error, detail, received_at, size, body = row
    return QuarantinedDelivery(
        id=quarantine_id,
        error=error,
        detail=decode_detail(detail),
        received_at=datetime.fromisoformat(received_at),
        size=size,
        body=bytes(body),
    )
