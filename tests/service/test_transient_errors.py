"""Which failures pass by themselves (retry) and which the work itself causes (park it)."""

from __future__ import annotations

import sqlite3

import psycopg
import psycopg_pool
import pytest
from eventsourcing import persistence
from psycopg import errors

from service.storage_errors import is_transient


def wrapped(error: Exception, wrapper: type[persistence.PersistenceError]) -> Exception:
    """`error` as the library raises it out of a transaction: its own class, the driver's
    error as the cause."""
    try:
        raise wrapper(str(error)) from error
    except persistence.PersistenceError as raised:
        return raised


TRANSIENT = {
    "connection refused": psycopg.OperationalError("connection refused"),
    "connection closed": psycopg.InterfaceError("the connection is closed"),
    "pool timeout": psycopg_pool.PoolTimeout("couldn't get a connection after 5.00 sec"),
    "server shutting down": errors.AdminShutdown(),
    "deadlock": errors.DeadlockDetected(),
    "disk full": errors.DiskFull(),
    "generation's table gone": errors.UndefinedTable(),
    "database is locked": sqlite3.OperationalError("database is locked"),
    "sqlite disk I/O": wrapped(
        sqlite3.OperationalError("disk I/O error"), persistence.OperationalError
    ),
    "malformed file": sqlite3.DatabaseError("database disk image is malformed"),
    "lost postgres, wrapped": wrapped(
        psycopg.OperationalError("server closed the connection"), persistence.OperationalError
    ),
    "os error": OSError(28, "No space left on device"),
}

DETERMINISTIC = {
    "bigint out of range": errors.NumericValueOutOfRange(),
    "NUL in text, client side": psycopg.DataError("PostgreSQL text fields cannot contain NUL"),
    "NUL in text, wrapped": wrapped(
        psycopg.DataError("PostgreSQL text fields cannot contain NUL"), persistence.DataError
    ),
    "unique violation": wrapped(errors.UniqueViolation(), persistence.IntegrityError),
    "index row too large": errors.ProgramLimitExceeded(),
    "wrong type": errors.DatatypeMismatch(),
    "cannot adapt": psycopg.ProgrammingError("cannot adapt type 'object'"),
    "sqlite integrity": wrapped(
        sqlite3.IntegrityError("UNIQUE constraint failed"), persistence.IntegrityError
    ),
    "library's own integrity error": persistence.IntegrityError("Failed to record tracking"),
    "sqlite int too large": OverflowError("Python int too large to convert to SQLite INTEGER"),
    "value": ValueError("bad value"),
    "type": TypeError("unsupported operand"),
    "key": KeyError("id"),
    "recursion": RecursionError("maximum recursion depth exceeded"),
}


@pytest.mark.parametrize("error", TRANSIENT.values(), ids=TRANSIENT.keys())
def test_storage_lost_busy_or_failing_is_transient(error: Exception) -> None:
    assert is_transient(error)


@pytest.mark.parametrize("error", DETERMINISTIC.values(), ids=DETERMINISTIC.keys())
def test_a_value_refused_or_a_bug_is_not_transient(error: Exception) -> None:
    assert not is_transient(error)
