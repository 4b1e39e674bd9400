"""A storage error's cause in one line, as an operator would say it, from real errors."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import psycopg
import pytest
from eventsourcing.persistence import OperationalError

from service.settings import DatabaseLocation
from service.storage_errors import STORAGE_ERRORS, storage_error_cause
from tests.helpers import free_port


def raised_by_connecting(conninfo: str) -> psycopg.Error:
    with pytest.raises(psycopg.Error) as caught:
        psycopg.connect(conninfo, connect_timeout=5)
    return caught.value


def test_a_refused_connection_names_the_address() -> None:
    port = free_port()
    error = raised_by_connecting(f"host=127.0.0.1 port={port} user=postgres dbname=x")
    assert storage_error_cause(error) == f"connection refused at 127.0.0.1:{port}"


@pytest.mark.postgres
def test_a_missing_database_is_named(postgres_database: str) -> None:
    location = DatabaseLocation.parse(postgres_database.rsplit("/", 1)[0] + "/no_such_db")
    error = raised_by_connecting(location.postgres_conninfo())
    assert storage_error_cause(error) == "database no_such_db does not exist"


def test_the_library_s_wrapping_is_seen_through(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite3"
    sqlite3.connect(path).close()
    read_only = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    with pytest.raises(sqlite3.Error) as caught:
        read_only.execute("CREATE TABLE t (x)")
    # What eventsourcing raises: its own error, from the driver's.
    with pytest.raises(STORAGE_ERRORS) as wrapped:
        raise OperationalError(str(caught.value)) from caught.value
    assert storage_error_cause(wrapped.value) == "database file is read-only"


def test_a_server_still_starting_says_so() -> None:
    # As libpq words it when the connection is refused during start-up (no error code yet).
    starting = psycopg.OperationalError(
        'connection failed: connection to server at "127.0.0.1", port 5432 failed: '
        "FATAL:  the database system is not yet accepting connections"
    )
    assert storage_error_cause(starting) == "database is starting up"


def test_a_full_disk_and_an_unknown_error_are_said_in_words() -> None:
    full = OSError(errno.ENOSPC, "No space left on device", "/var/lib/log.sqlite3")
    assert storage_error_cause(full) == "disk full (/var/lib/log.sqlite3)"
    assert storage_error_cause(sqlite3.OperationalError("no such table: x\nmore")) == (
        "no such table: x"
    )
    assert storage_error_cause(OperationalError()) == "OperationalError without a message"
