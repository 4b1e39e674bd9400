"""One process at a time creates schemas and tables, so several starting together don't race.

PostgreSQL's `CREATE ... IF NOT EXISTS` is not safe against a concurrent twin (it fails on the
catalog's unique index), so creation runs under a database-wide advisory lock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from service.settings import DatabaseLocation

CONNECT_TIMEOUT_SECONDS = 5


@contextmanager
def schema_setup(location: DatabaseLocation) -> Iterator[None]:
    if location.kind != "postgres":
        yield
        return
    digest = hashlib.blake2b(
        f"ticket-audit:setup:{location.schema}".encode(), digest_size=8
    ).digest()
    key = int.from_bytes(digest, "big", signed=True)
    with psycopg.connect(
        location.postgres_conninfo(), autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS
    ) as connection:
        connection.execute("SELECT pg_advisory_lock(%s)", (key,))
        try:
            yield
        finally:
            connection.execute("SELECT pg_advisory_unlock(%s)", (key,))
