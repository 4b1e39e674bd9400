"""How a database URL becomes the eventsourcing library's environment."""

from __future__ import annotations

from eventsourcing.utils import get_topic

from service import database
from service.application import TicketAudit
from service.persistence.postgres import PostgresChainedRecorder
from service.persistence.sqlite import SQLiteChainedRecorder
from service.settings import DatabaseLocation
from service.setup_lock import schema_setup
from service.storage_errors import require_log


def eventsourcing_env(location: DatabaseLocation) -> dict[str, str]:
    if location.kind == "sqlite":
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": location.sqlite_path,
            "SQLITE_LOCK_TIMEOUT": str(database.SQLITE_LOCK_TIMEOUT_SECONDS),
            "APPLICATION_RECORDER_TOPIC": get_topic(SQLiteChainedRecorder),
        }
    return {
        "PERSISTENCE_MODULE": get_topic(database.ConnectedPostgresFactory),
        database.ConnectedPostgresFactory.POSTGRES_CONNINFO: database.log_conninfo(location),
        "POSTGRES_DBNAME": location.dbname,
        "POSTGRES_HOST": location.host,
        "POSTGRES_PORT": str(location.port),
        "POSTGRES_USER": location.user,
        "POSTGRES_PASSWORD": location.password,
        "POSTGRES_SCHEMA": location.schema,
        # How long a caller waits for a pooled connection (the library's name for it).
        "POSTGRES_CONNECT_TIMEOUT": str(database.CONNECT_TIMEOUT_SECONDS),
        "POSTGRES_LOCK_TIMEOUT": str(database.POSTGRES_LOCK_TIMEOUT_SECONDS),
        "POSTGRES_POOL_SIZE": str(database.LOG_POOL_SIZE),
        "POSTGRES_MAX_OVERFLOW": str(database.LOG_POOL_SIZE),
        # No round trip to check each connection before use: the write path retries a batch
        # once when its connection turns out closed (see `TicketAudit.record_deliveries`),
        # and the library retries its own reads.
        "POSTGRES_PRE_PING": "n",
        "APPLICATION_RECORDER_TOPIC": get_topic(PostgresChainedRecorder),
    }


def open_existing_log(location: DatabaseLocation) -> TicketAudit:
    """The log at `location`, refusing to create one (what every command but `serve` does)."""
    require_log(location)
    return open_log(location)


def open_log(location: DatabaseLocation) -> TicketAudit:
    with schema_setup(location):
        database.prepare_storage(location)
        return TicketAudit(env=eventsourcing_env(location))
