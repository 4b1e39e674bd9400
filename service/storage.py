"""How a database URL becomes the eventsourcing library's environment."""

from __future__ import annotations

from pathlib import Path

import psycopg
from eventsourcing.utils import get_topic
from psycopg.sql import SQL, Identifier

from service.application import TicketAudit
from service.persistence.postgres import PostgresChainedRecorder
from service.persistence.sqlite import SQLiteChainedRecorder
from service.settings import DatabaseLocation
from service.setup_lock import schema_setup

# Short enough that a lost database answers 503 within seconds rather than hanging senders.
POSTGRES_CONNECT_TIMEOUT_SECONDS = 3
POSTGRES_LOCK_TIMEOUT_SECONDS = 5
SQLITE_LOCK_TIMEOUT_SECONDS = 5


def eventsourcing_env(location: DatabaseLocation) -> dict[str, str]:
    if location.kind == "sqlite":
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": location.sqlite_path,
            "SQLITE_LOCK_TIMEOUT": str(SQLITE_LOCK_TIMEOUT_SECONDS),
            "APPLICATION_RECORDER_TOPIC": get_topic(SQLiteChainedRecorder),
        }
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": location.dbname,
        "POSTGRES_HOST": location.host,
        "POSTGRES_PORT": str(location.port),
        "POSTGRES_USER": location.user,
        "POSTGRES_PASSWORD": location.password,
        "POSTGRES_SCHEMA": location.schema,
        "POSTGRES_CONNECT_TIMEOUT": str(POSTGRES_CONNECT_TIMEOUT_SECONDS),
        "POSTGRES_LOCK_TIMEOUT": str(POSTGRES_LOCK_TIMEOUT_SECONDS),
        "POSTGRES_POOL_SIZE": "4",
        "POSTGRES_MAX_OVERFLOW": "4",
        # No round trip to check each connection before use: the write path retries a batch
        # once when its connection turns out closed (see `TicketAudit.record_deliveries`),
        # and the library retries its own reads.
        "POSTGRES_PRE_PING": "n",
        "APPLICATION_RECORDER_TOPIC": get_topic(PostgresChainedRecorder),
    }


def prepare_storage(location: DatabaseLocation) -> None:
    """Make the place the log will live in: the SQLite file's folder, or the Postgres schema."""
    if location.kind == "sqlite":
        Path(location.sqlite_path).parent.mkdir(parents=True, exist_ok=True)
        return
    with psycopg.connect(
        location.postgres_conninfo(),
        autocommit=True,
        connect_timeout=POSTGRES_CONNECT_TIMEOUT_SECONDS,
    ) as connection:
        connection.execute(
            SQL("CREATE SCHEMA IF NOT EXISTS {0}").format(Identifier(location.schema))
        )


def open_log(location: DatabaseLocation) -> TicketAudit:
    with schema_setup(location):
        prepare_storage(location)
        return TicketAudit(env=eventsourcing_env(location))
