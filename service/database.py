"""Where the log and the read models live: preparing that place, and how every part of the
service connects to PostgreSQL (timeouts, pool sizes, advisory-lock keys), in one place."""

from __future__ import annotations

import hashlib
from pathlib import Path

import psycopg
from psycopg.sql import SQL, Identifier

from service.settings import DatabaseLocation

# Short enough that a lost database answers 503 within seconds rather than hanging senders.
CONNECT_TIMEOUT_SECONDS = 3
POSTGRES_LOCK_TIMEOUT_SECONDS = 5
SQLITE_LOCK_TIMEOUT_SECONDS = 5
# The log's writer and readers in one process.
LOG_POOL_SIZE = 4
# Projection appliers, rebuilds and queries share one pool per process.
PROJECTION_POOL_SIZE = 8
QUARANTINE_POOL_SIZE = 4


def connect(location: DatabaseLocation) -> psycopg.Connection[tuple[object, ...]]:
    """A dedicated autocommit connection (for locks, LISTEN, schema setup)."""
    return psycopg.connect(
        location.postgres_conninfo(), autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS
    )


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
    with connect(location) as connection:
        connection.execute(
            SQL("CREATE SCHEMA IF NOT EXISTS {0}").format(Identifier(location.schema))
        )
