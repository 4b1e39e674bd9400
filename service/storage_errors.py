"""Which failures mean "storage is unreachable or failing": one list for every part that
retries, answers 503 or reports a projection as failed."""

from __future__ import annotations

import sqlite3

import psycopg
import psycopg_pool
from eventsourcing.persistence import (
    DataError,
    IntegrityError,
    NotSupportedError,
    PersistenceError,
    ProgrammingError,
)

STORAGE_ERRORS: tuple[type[BaseException], ...] = (
    PersistenceError,
    psycopg.Error,
    psycopg_pool.PoolTimeout,
    sqlite3.Error,
    OSError,
)

# PostgreSQL refusing one statement's values, which it will refuse every time: data
# exceptions (22), constraint violations (23), program limits such as an index row too large
# (54), a value of the wrong type (42804, 42846) and a feature the value needs (0A000).
_DATA_SQLSTATE_CLASSES = frozenset({"22", "23", "54"})
_DATA_SQLSTATES = frozenset({"42804", "42846", "0A000"})
_REFUSED_VALUES = (
    psycopg.DataError,
    psycopg.IntegrityError,
    psycopg.ProgrammingError,
    psycopg.NotSupportedError,
    sqlite3.DataError,
    sqlite3.IntegrityError,
    sqlite3.ProgrammingError,
    sqlite3.NotSupportedError,
)


def is_transient(error: BaseException) -> bool:
    """Whether the same work may succeed if tried again: storage lost, refused, busy, locked
    or failing (a connection, a pool timeout, SQLite's "database is locked", a disk error).

    False for a failure that the work itself causes and would cause again: a value the
    database refuses (whatever intake let through but a column cannot hold) or any other
    exception raised while applying it (OverflowError, ValueError, KeyError, a bug). The
    library wraps driver errors in its own classes; their cause is what is judged here.
    """
    cause = error.__cause__ if isinstance(error, PersistenceError) else None
    judged = cause if isinstance(cause, psycopg.Error | sqlite3.Error) else error
    if isinstance(judged, psycopg.Error) and judged.sqlstate is not None:
        sqlstate = judged.sqlstate
        return not (sqlstate[:2] in _DATA_SQLSTATE_CLASSES or sqlstate in _DATA_SQLSTATES)
    if isinstance(judged, _REFUSED_VALUES):
        return False
    if isinstance(judged, PersistenceError):
        # The library's own class with no driver error behind it, e.g. its IntegrityError
        # for a position tracked already: judged by the class alone.
        return not isinstance(
            judged,
            DataError | IntegrityError | ProgrammingError | NotSupportedError,
        )
    return isinstance(judged, STORAGE_ERRORS)
