"""Storage failures, in one place: which exceptions mean "storage is unreachable or failing"
(one list for every part that retries, answers 503 or reports a projection as failed), the
one-line reason, naming cause and fix, that each command gives when it cannot start, and the
one-line cause of a failure met while running (`storage_error_cause`), which the write path,
the HTTP error mapping and the projections log the same way.

What can go wrong while starting is a small set of well-known situations, each classified here
once so that `serve` and every other command say the same thing about it, with no traceback.
"""

from __future__ import annotations

import errno
import re
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import psycopg_pool
from eventsourcing.persistence import (
    DataError,
    IntegrityError,
    NotSupportedError,
    PersistenceError,
    ProgrammingError,
)
from psycopg.sql import SQL

from service import database
from service.settings import DatabaseLocation

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


# eventsourcing's PostgreSQL recorder names the events table after the application class.
POSTGRES_EVENTS_TABLE = "ticketaudit_events"
SQLITE_EVENTS_TABLE = "stored_events"
CHAIN_TABLE = "event_chain"
# The log's tables by what they hold, whatever each backend calls the events table.
EVENTS = "events"
CHAIN = "event_chain"


class StartupError(Exception):
    """A command cannot start; the message is one line, names no secret, and says what to do.

    `exit_code` follows the command line's convention: 2 for what the operator must set up
    (settings, a missing log), 1 for everything else.
    """

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def no_log(location: DatabaseLocation) -> StartupError:
    return StartupError(
        f"no log at {where(location)}: start `ticket-audit serve` once to create it, "
        "or point --database-url / TICKET_AUDIT_DATABASE_URL at an existing one",
        exit_code=2,
    )


def where(location: DatabaseLocation) -> str:
    """The log's place as an operator would write it, without the password."""
    if location.kind == "sqlite":
        return location.sqlite_path
    schema = "" if location.schema == "public" else f"?schema={location.schema}"
    user = f"{location.user}:***" if location.password else location.user
    return f"postgresql://{user}@{location.host}:{location.port}/{location.dbname}{schema}"


def require_log(location: DatabaseLocation) -> None:
    """Refuse to go on unless the log exists: no command but `serve` may create one."""
    if EVENTS not in log_tables(location):
        raise no_log(location)


def log_tables(location: DatabaseLocation) -> set[str]:
    """Which of the log's tables (EVENTS, CHAIN) exist, looking without creating anything."""
    if location.kind == "sqlite":
        if not Path(location.sqlite_path).is_file():
            return set()
        return _sqlite_tables(location)
    return _postgres_tables(location)


def _sqlite_tables(location: DatabaseLocation) -> set[str]:
    # Read-only URI: looking must not create or change anything.
    uri = f"{Path(location.sqlite_path).resolve().as_uri()}?mode=ro"
    try:
        connection = sqlite3.connect(uri, uri=True, timeout=database.CONNECT_TIMEOUT_SECONDS)
    except sqlite3.Error as error:
        raise classify(error, location) from None
    try:
        rows = connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (?, ?)",
            (SQLITE_EVENTS_TABLE, CHAIN_TABLE),
        ).fetchall()
    except sqlite3.DatabaseError as error:
        raise StartupError(
            f"{location.sqlite_path} is not a ticket-audit log ({error}): "
            "check --database-url / TICKET_AUDIT_DATABASE_URL",
            exit_code=2,
        ) from None
    finally:
        connection.close()
    return {EVENTS if name == SQLITE_EVENTS_TABLE else CHAIN for (name,) in rows}


def _postgres_tables(location: DatabaseLocation) -> set[str]:
    def qualified(table: str) -> str:
        return f'"{location.schema}".{table}'

    try:
        with database.connect(location, "check") as connection:
            row = connection.execute(
                SQL("SELECT to_regclass(%s) IS NOT NULL, to_regclass(%s) IS NOT NULL"),
                (qualified(POSTGRES_EVENTS_TABLE), qualified(CHAIN_TABLE)),
            ).fetchone()
    except psycopg.Error as error:
        raise classify(error, location) from None
    assert row is not None
    return {name for name, present in zip((EVENTS, CHAIN), row, strict=True) if present}


def classify(error: BaseException, location: DatabaseLocation) -> StartupError:
    """The one-line reason for a storage failure met while starting."""
    for cause in _chain(error):
        if isinstance(cause, psycopg.Error):
            return _postgres(cause, location)
        if isinstance(cause, sqlite3.Error):
            return StartupError(
                f"cannot open the SQLite log at {location.sqlite_path}: {cause}: "
                "check that its folder exists and is writable"
            )
    for cause in _chain(error):
        if isinstance(cause, OSError) and cause.strerror:
            return StartupError(f"storage unavailable at {where(location)}: {cause.strerror}")
    return StartupError(f"storage unavailable at {where(location)}: {type(error).__name__}")


def _postgres(error: psycopg.Error, location: DatabaseLocation) -> StartupError:
    server = f"{location.host}:{location.port}"
    text = str(error)
    if f'database "{location.dbname}" does not exist' in text:
        return StartupError(
            f'database "{location.dbname}" does not exist on {server}: create it with '
            f"createdb -h {location.host} -p {location.port} -U {location.user} {location.dbname}"
        )
    if f'role "{location.user}" does not exist' in text:
        return StartupError(
            f'role "{location.user}" does not exist on {server}: create it with '
            f"createuser -h {location.host} -p {location.port} {location.user}, "
            "or name an existing user in the database URL"
        )
    if "password authentication failed" in text or "no password supplied" in text:
        return StartupError(
            f'PostgreSQL on {server} refused the password of user "{location.user}": '
            "check the password in the database URL"
        )
    if "Connection refused" in text:
        return StartupError(
            f"connection refused at {server}: is PostgreSQL running there, on that port?"
        )
    if "failed to resolve host" in text:
        return StartupError(f"unknown host {location.host!r}: check the database URL")
    if isinstance(error, psycopg.errors.ConnectionTimeout):
        return StartupError(
            f"no answer from PostgreSQL at {server} within {database.CONNECT_TIMEOUT_SECONDS} s: "
            "check the host and port (is something else listening there?)"
        )
    if "server does not support SSL" in text:
        return StartupError(
            f"PostgreSQL at {server} does not offer SSL, which the database URL's sslmode "
            "requires: enable SSL on the server, or change sslmode in the URL"
        )
    if isinstance(error, psycopg.errors.InsufficientPrivilege):
        return StartupError(
            f'user "{location.user}" may not use schema "{location.schema}" on {server}: '
            "grant it, or name another schema or user in the database URL"
        )
    first_line = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return StartupError(f"PostgreSQL at {server} failed: {first_line}")


def listen_error(error: OSError, host: str, port: int) -> StartupError:
    """Why `serve` could not open its socket, and what to do about it."""
    if isinstance(error, socket.gaierror):
        return StartupError(
            f"unknown host {host!r}: choose another with --host / TICKET_AUDIT_HOST"
        )
    if error.errno == errno.EADDRINUSE:
        return StartupError(
            f"port {port} is in use on {host}: stop the process using it, "
            "or choose another with --port / TICKET_AUDIT_PORT"
        )
    if error.errno == errno.EACCES:
        return StartupError(
            f"not allowed to listen on port {port}: ports below 1024 need privileges; "
            "choose another with --port / TICKET_AUDIT_PORT"
        )
    if error.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
        return StartupError(
            f"cannot listen on {host}: it is no address of this machine; "
            "choose another with --host / TICKET_AUDIT_HOST"
        )
    return StartupError(f"cannot listen on {host}:{port}: {error.strerror or error}")


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


# While running: a storage failure's cause in words, for the log and for /readyz.

# PostgreSQL error codes whose meaning is plainer than their message.
_SQLSTATE_CAUSES = {
    "53100": "disk full",
    "53200": "database out of memory",
    "53300": "too many connections",
    "57P01": "database shut down (connection terminated by the administrator)",
    "57P02": "database crashed (connection terminated)",
    "57P03": "database is starting up or shutting down",
    "25006": "database is read-only",
    "55P03": "lock wait timed out",
}
_SQLITE_CAUSES = {
    "SQLITE_FULL": "disk full",
    "SQLITE_READONLY": "database file is read-only",
    "SQLITE_CANTOPEN": "cannot open the database file",
    "SQLITE_BUSY": "database file locked by another writer",
    "SQLITE_IOERR": "I/O error on the database file",
    "SQLITE_CORRUPT": "database file is corrupt",
}
_OS_CAUSES = {errno.ENOSPC: "disk full", errno.EROFS: "read-only file system"}
_REFUSED_AT = re.compile(
    r'server at "([^"]+)"(?: \([^)]*\))?, port (\d+) failed: Connection refused'
)
_MISSING_DATABASE = re.compile(r'database "([^"]+)" does not exist')
# What a server says while it starts or stops, before any error code can be read.
_SERVER_PHASES = {
    "the database system is starting up": "database is starting up",
    "the database system is not yet accepting connections": "database is starting up",
    "the database system is shutting down": "database is shutting down",
    "the database system is in recovery mode": "database is recovering",
}


def storage_error_cause(error: BaseException) -> str:
    """The cause of a storage error as an operator would say it, e.g. "disk full"."""
    for link in _chain(error):
        cause = _known_cause(link)
        if cause is not None:
            return cause
    return _first_line(error)


def _known_cause(error: BaseException) -> str | None:
    text = str(error)
    if isinstance(error, psycopg.Error):
        refused = _REFUSED_AT.search(text)
        if refused:
            return f"connection refused at {refused[1]}:{refused[2]}"
        missing = _MISSING_DATABASE.search(text)
        if missing:
            return f"database {missing[1]} does not exist"
        for phrase, cause in _SERVER_PHASES.items():
            if phrase in text:
                return cause
        if error.sqlstate in _SQLSTATE_CAUSES:
            return _SQLSTATE_CAUSES[error.sqlstate]
        if "server closed the connection unexpectedly" in text or "consuming input failed" in text:
            return "connection to the database lost"
        if "timeout expired" in text or "timed out" in text:
            return f"database did not answer in time: {_first_line(error)}"
    if isinstance(error, psycopg_pool.PoolTimeout):
        return "no database connection available in time"
    if isinstance(error, sqlite3.Error):
        name = getattr(error, "sqlite_errorname", "")
        for prefix, cause in _SQLITE_CAUSES.items():
            if name.startswith(prefix):
                return cause
    if isinstance(error, OSError) and error.errno in _OS_CAUSES:
        where = f" ({error.filename})" if error.filename else ""
        return f"{_OS_CAUSES[error.errno]}{where}"
    return None


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if lines:
        return lines[0]
    return f"{type(error).__name__} without a message"
