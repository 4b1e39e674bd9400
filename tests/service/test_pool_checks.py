"""The projections' pool checks a connection before use only after it has been idle a while."""

from __future__ import annotations

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from service.database import CheckAfterIdle, PooledConnection
from service.settings import DatabaseLocation

pytestmark = pytest.mark.postgres

IDLE_SECONDS = 10.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def server_side_close(database: str, connection: PooledConnection) -> None:
    """End the connection's session on the server, as a database restart does."""
    with psycopg.connect(database, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [connection.info.backend_pid])


def test_a_connection_back_from_use_just_now_is_not_checked_and_an_idle_one_is(
    postgres_database: str,
) -> None:
    clock = Clock()
    idle = CheckAfterIdle(IDLE_SECONDS, clock)
    location = DatabaseLocation.parse(postgres_database)
    with ConnectionPool(
        location.postgres_conninfo(),
        min_size=1,
        max_size=1,
        check=idle.check,
        reset=idle.returned,
    ) as pool:
        with pool.connection() as connection:
            connection.execute("SELECT 1")
        # Under load: back in the pool a moment ago, taken again without a round trip first,
        # so a connection that died meanwhile fails its own statement (which callers retry).
        server_side_close(postgres_database, connection)
        clock.now += IDLE_SECONDS / 2
        with pytest.raises(psycopg.OperationalError), pool.connection() as dead:
            dead.execute("SELECT 1")
        with pool.connection() as connection:
            connection.execute("SELECT 1")
        # Idle longer (across a database restart, say): checked, and replaced before use.
        server_side_close(postgres_database, connection)
        clock.now += IDLE_SECONDS * 2
        with pool.connection() as replacement:
            replacement.execute("SELECT 1")
            assert replacement.info.backend_pid != connection.info.backend_pid
