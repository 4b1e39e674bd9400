"""Where the log and the read models live: preparing that place, and how every part of the
service connects to PostgreSQL (conninfo, timeouts, pool sizes, advisory-lock keys), in one place.

The database URL's libpq parameters (`sslmode`, `sslrootcert`, `connect_timeout`,
`application_name`, ...) reach every connection: the log's pool (through eventsourcing), the
projection stores, the quarantine, leadership, the schema setup lock and the commit listener.
Without them `sslmode=require` would silently connect in plain text.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

import psycopg
from eventsourcing.postgres import PostgresDatastore, PostgresFactory
from eventsourcing.utils import Environment, EnvType
from psycopg.conninfo import make_conninfo
from psycopg.sql import SQL, Identifier

from service.settings import DatabaseLocation

# Short enough that a lost database answers 503 within seconds rather than hanging senders.
# A `connect_timeout` in the URL overrides it.
CONNECT_TIMEOUT_SECONDS = 3
POSTGRES_LOCK_TIMEOUT_SECONDS = 5
SQLITE_LOCK_TIMEOUT_SECONDS = 5
# The log's writer and readers in one process.
LOG_POOL_SIZE = 4
# Projection appliers and rebuilds share one pool per process; query routes have their own,
# opened on first use (so never in the worker process), as large as their reader threads.
# Both start with a few connections and grow with use, so a process holds only what it uses:
# `serve` answers queries, the worker applies, and several of each may share one server.
PROJECTION_POOL_SIZE = 16
QUERY_POOL_SIZE = 8
POOL_CONNECTIONS_AT_START = 2
QUARANTINE_POOL_SIZE = 4
# A little more than one connect attempt: with the server gone, a quarantine caller learns it
# in seconds instead of holding one of the HTTP layer's worker threads.
QUARANTINE_POOL_WAIT_SECONDS = 3
QUARANTINE_STATEMENT_TIMEOUT_MS = 5000

# How each kind of connection shows in `pg_stat_activity` (`ticket-audit-<kind>`), unless the
# URL names them all with `application_name`. `check`: the start-up and doctor's checks.
ConnectionKind = Literal[
    "log", "projections", "queries", "quarantine", "leadership", "listener", "setup", "check"
]

# What eventsourcing hands its pool itself; every other parameter rides in the pool's conninfo.
_IDENTITY = frozenset({"host", "port", "user", "password", "dbname"})


def conninfo(
    location: DatabaseLocation, kind: ConnectionKind | None = None, **defaults: Any
) -> str:
    """A libpq connection string for `location`; the URL's own parameters win over `defaults`."""
    return make_conninfo(**_parameters(location, kind, defaults))


def connect(
    location: DatabaseLocation, kind: ConnectionKind
) -> psycopg.Connection[tuple[object, ...]]:
    """A dedicated autocommit connection (for locks, LISTEN, schema setup)."""
    return psycopg.connect(conninfo(location, kind), autocommit=True)


def check_parameters(parameters: dict[str, str]) -> None:
    """Raise ValueError naming a parameter libpq does not know (a typo such as `sslmod`)."""
    try:
        make_conninfo(**parameters)
    except psycopg.ProgrammingError as error:
        raise ValueError(str(error).splitlines()[0]) from None


def _parameters(
    location: DatabaseLocation, kind: ConnectionKind | None, defaults: dict[str, Any]
) -> dict[str, Any]:
    parameters: dict[str, Any] = {
        "host": location.host,
        "port": location.port,
        "user": location.user,
        "password": location.password or None,
        "dbname": location.dbname,
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
    }
    if kind is not None:
        parameters["fallback_application_name"] = f"ticket-audit-{kind}"
    parameters.update(defaults)
    parameters.update(location.libpq_parameters)
    return parameters


def _beyond_identity(location: DatabaseLocation, kind: ConnectionKind) -> str:
    """The conninfo of every parameter but those eventsourcing gives its pool itself."""
    parameters = _parameters(location, kind, {})
    return make_conninfo(
        **{name: value for name, value in parameters.items() if name not in _IDENTITY}
    )


class ConnectedPostgresFactory(PostgresFactory):
    """eventsourcing's factory, with the URL's libpq parameters on every pooled connection.

    The library hands its pool only host, port, user, password and dbname; the pool merges its
    conninfo under those, so the rest rides there.
    """

    POSTGRES_CONNINFO = "POSTGRES_CONNINFO"

    def __init__(self, env: Environment | EnvType | None):
        super().__init__(env)
        self.datastore.pool.conninfo = self.env.get(self.POSTGRES_CONNINFO) or ""


def log_conninfo(location: DatabaseLocation) -> str:
    """The log pool's parameters beyond its identity, for ConnectedPostgresFactory."""
    return _beyond_identity(location, "log")


def projection_datastore(location: DatabaseLocation, kind: ConnectionKind) -> PostgresDatastore:
    """The pool of the projections' appliers and runtime (`projections`), or the query routes'
    (`queries`).

    A query route's read is one statement, which reads again on a live connection when it
    finds its own dropped by the server (`projections.store.reads`), so its pool skips the
    check before each use: a round trip of its own, as dear as the query. The appliers' and
    the runtime's transactions have no such retry and keep the check.
    """
    datastore = PostgresDatastore(
        dbname=location.dbname,
        host=location.host,
        port=location.port,
        user=location.user,
        password=location.password,
        schema=location.schema,
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        pool_size=POOL_CONNECTIONS_AT_START,
        max_overflow=(QUERY_POOL_SIZE if kind == "queries" else PROJECTION_POOL_SIZE)
        - POOL_CONNECTIONS_AT_START,
        pre_ping=kind != "queries",
    )
    datastore.pool.conninfo = _beyond_identity(location, kind)
    return datastore


def advisory_lock_key(location: DatabaseLocation, *parts: object) -> int:
    """A 64-bit advisory-lock key naming `parts` within this service's schema."""
    text = ":".join(["ticket-audit", location.schema, *map(str, parts)])
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def prepare_storage(location: DatabaseLocation) -> None:
    """Make the place the log will live in: the SQLite file's folder, or the Postgres schema."""
    if location.kind == "sqlite":
        Path(location.sqlite_path).parent.mkdir(parents=True, exist_ok=True)
        return
    with connect(location, "setup") as connection:
        connection.execute(
            SQL("CREATE SCHEMA IF NOT EXISTS {0}").format(Identifier(location.schema))
        )
