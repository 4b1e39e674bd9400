"""One process at a time creates schemas and tables, so several starting together don't race.

PostgreSQL's `CREATE ... IF NOT EXISTS` is not safe against a concurrent twin (it fails on the
catalog's unique index), so creation runs under a database-wide advisory lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from service.database import advisory_lock_key, connect
from service.settings import DatabaseLocation


@contextmanager
def schema_setup(location: DatabaseLocation) -> Iterator[None]:
    if location.kind != "postgres":
        yield
        return
    key = advisory_lock_key(location, "setup")
    with connect(location, "setup") as connection:
        connection.execute("SELECT pg_advisory_lock(%s)", (key,))
        try:
            yield
        finally:
            connection.execute("SELECT pg_advisory_unlock(%s)", (key,))
