"""The baseline: an aiohttp handler doing one INSERT of the raw JSON per request, and
answering questions about tickets straight from that table.

Each request is its own transaction, committed before the answer, on the same kind of
database as the service it is compared with. PostgreSQL goes through a psycopg pool as
large as the service's log pool; SQLite through one connection on one writer thread (it
allows one writer at a time), in WAL mode as the service's log is, and reads through a few
connections of their own. It runs on uvloop, as `ticket-audit serve` does, so that the two
differ in what they do, not in their event loop.

The query routes answer what the service's do, as a naive receiver would, from the bodies:
- `/tickets/{id}`: the current body of a ticket, the latest by the delivery's `timestamp`
  (later row on a tie), as the service's "current" is the latest by source time;
- `/tickets/{id}/bodies?limit=N`: the ticket's bodies in `timestamp` order (its history);
- `/bodies?eventId=E&limit=N`: the last N bodies received for an event (its recent changes).
For them the table needs indexes on the ticket and the event (`create_table(indexed=True)`);
the intake measurement runs on a table without them, as a receiver that only stores does.
PostgreSQL keeps the bodies as JSONB there; SQLite as text, indexed through `json_extract`.

    python -m bench.naive_receiver --database-url URL --port PORT
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import psycopg
import uvloop
from aiohttp import web
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from service import database
from service.settings import DatabaseLocation

TABLE = "naive_deliveries"
# As many connections as the service's log pool may open (its size plus as many overflow).
POSTGRES_CONNECTIONS = 2 * database.LOG_POOL_SIZE
SQLITE_READERS = 4
DEFAULT_LIMIT = 100

# The three questions, per backend: the ticket's id, the source time and the event's id as
# a naive schema reaches them in the body, and the queries written against those indexes.
POSTGRES_TICKET = "((body->'data'->>'id')::bigint)"
POSTGRES_EVENT = "((body->'data'->>'eventId')::bigint)"
POSTGRES_TIME = "(body->>'timestamp')"
# `{0}` is the table; what else is formatted in is these constants, never a request's text.
POSTGRES_QUERIES = {
    "current": f"SELECT body::text FROM {{0}} WHERE {POSTGRES_TICKET} = %s "  # noqa: S608
    f"ORDER BY {POSTGRES_TIME} DESC, id DESC LIMIT 1",
    "in_order": f"SELECT body::text FROM {{0}} WHERE {POSTGRES_TICKET} = %s "  # noqa: S608
    f"ORDER BY {POSTGRES_TIME}, id LIMIT %s",
    "last": f"SELECT body::text FROM {{0}} WHERE {POSTGRES_EVENT} = %s "  # noqa: S608
    "ORDER BY id DESC LIMIT %s",
}
SQLITE_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (id INTEGER PRIMARY KEY, "
    "received_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, body TEXT NOT NULL)"
)
SQLITE_TICKET = "json_extract(body, '$.data.id')"
SQLITE_EVENT = "json_extract(body, '$.data.eventId')"
SQLITE_TIME = "json_extract(body, '$.timestamp')"
SQLITE_QUERIES = {
    "current": f"SELECT body FROM {TABLE} WHERE {SQLITE_TICKET} = ? "  # noqa: S608
    f"ORDER BY {SQLITE_TIME} DESC, id DESC LIMIT 1",
    "in_order": f"SELECT body FROM {TABLE} WHERE {SQLITE_TICKET} = ? "  # noqa: S608
    f"ORDER BY {SQLITE_TIME}, id LIMIT ?",
    "last": f"SELECT body FROM {TABLE} WHERE {SQLITE_EVENT} = ? "  # noqa: S608
    "ORDER BY id DESC LIMIT ?",
}


class DeliveryTable(Protocol):
    async def insert(self, body: bytes) -> int: ...

    async def bodies(self, question: str, key: int, limit: int) -> list[str]:
        """The bodies answering `question` (a key of the QUERIES) about ticket or event `key`."""
        ...

    async def close(self) -> None: ...


def create_table(location: DatabaseLocation, indexed: bool) -> None:
    """The table, with the indexes the query routes need when `indexed`."""
    if location.kind == "sqlite":
        _create_sqlite_table(location, indexed)
    else:
        _create_postgres_table(location, indexed)


def _create_sqlite_table(location: DatabaseLocation, indexed: bool) -> None:
    connection = sqlite3.connect(location.sqlite_path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(SQLITE_TABLE)
        if indexed:
            connection.execute(
                f"CREATE INDEX IF NOT EXISTS naive_by_ticket ON {TABLE} "
                f"({SQLITE_TICKET}, {SQLITE_TIME}, id)"
            )
            connection.execute(
                f"CREATE INDEX IF NOT EXISTS naive_by_event ON {TABLE} ({SQLITE_EVENT}, id)"
            )
    finally:
        connection.close()


def _create_postgres_table(location: DatabaseLocation, indexed: bool) -> None:
    table = sql.Identifier(location.schema, TABLE)
    statements = [
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {0} (id bigserial PRIMARY KEY, "
            "received_at timestamptz NOT NULL DEFAULT now(), body {1} NOT NULL)"
        ).format(table, sql.SQL("jsonb" if indexed else "text"))
    ]
    if indexed:
        by_ticket = f"({POSTGRES_TICKET}, {POSTGRES_TIME}, id)"
        statements += [
            sql.SQL("CREATE INDEX IF NOT EXISTS naive_by_ticket ON {0} " + by_ticket).format(table),
            sql.SQL(
                f"CREATE INDEX IF NOT EXISTS naive_by_event ON {{0}} ({POSTGRES_EVENT}, id)"
            ).format(table),
        ]
    with psycopg.connect(location.postgres_conninfo(), autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement)


def load_bodies(location: DatabaseLocation, bodies: Sequence[bytes]) -> None:
    """Add bodies in one transaction, as if each had been posted (filling a table to query)."""
    rows = [(body.decode(),) for body in bodies]
    if location.kind == "sqlite":
        connection = sqlite3.connect(location.sqlite_path)
        try:
            with connection:
                connection.executemany(f"INSERT INTO {TABLE} (body) VALUES (?)", rows)  # noqa: S608
        finally:
            connection.close()
        return
    copy_rows = sql.SQL("COPY {0} (body) FROM STDIN").format(sql.Identifier(location.schema, TABLE))
    with (
        psycopg.connect(location.postgres_conninfo()) as postgres,
        postgres.cursor() as cursor,
        cursor.copy(copy_rows) as copy,
    ):
        for row in rows:
            copy.write_row(row)


class PostgresDeliveries:
    def __init__(self, location: DatabaseLocation) -> None:
        self._table = sql.Identifier(location.schema, TABLE)
        self._pool = AsyncConnectionPool(
            location.postgres_conninfo(),
            min_size=POSTGRES_CONNECTIONS,
            max_size=POSTGRES_CONNECTIONS,
            open=False,
        )

    async def open(self) -> None:
        await self._pool.open(wait=True)

    async def insert(self, body: bytes) -> int:
        # Leaving the pool's connection block commits: one transaction per delivery.
        async with self._pool.connection() as connection:
            cursor = await connection.execute(
                sql.SQL("INSERT INTO {0} (body) VALUES (%s) RETURNING id").format(self._table),
                (body.decode(),),
            )
            row = await cursor.fetchone()
        assert row is not None
        return int(row[0])

    async def bodies(self, question: str, key: int, limit: int) -> list[str]:
        query = sql.SQL(POSTGRES_QUERIES[question]).format(self._table)
        params = (key,) if question == "current" else (key, limit)
        async with self._pool.connection() as connection:
            cursor = await connection.execute(query, params)
            return [str(row[0]) for row in await cursor.fetchall()]

    async def close(self) -> None:
        await self._pool.close()


class SQLiteDeliveries:
    def __init__(self, location: DatabaseLocation) -> None:
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="naive-writer")
        self._connection = sqlite3.connect(
            location.sqlite_path, check_same_thread=False, isolation_level=None, timeout=5
        )
        self._path = location.sqlite_path
        self._readers = ThreadPoolExecutor(SQLITE_READERS, thread_name_prefix="naive-reader")
        self._reading = threading.local()

    async def insert(self, body: bytes) -> int:
        return await asyncio.get_running_loop().run_in_executor(
            self._writer, self._insert, body.decode()
        )

    def _insert(self, body: str) -> int:
        with self._connection:
            cursor = self._connection.execute(f"INSERT INTO {TABLE} (body) VALUES (?)", (body,))  # noqa: S608
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    async def bodies(self, question: str, key: int, limit: int) -> list[str]:
        params = (key,) if question == "current" else (key, limit)
        return await asyncio.get_running_loop().run_in_executor(
            self._readers, self._select, SQLITE_QUERIES[question], params
        )

    def _select(self, query: str, params: tuple[int, ...]) -> list[str]:
        connection: sqlite3.Connection | None = getattr(self._reading, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self._path, check_same_thread=False, timeout=5)
            self._reading.connection = connection
        return [str(row[0]) for row in connection.execute(query, params)]

    async def close(self) -> None:
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        self._connection.close()


DELIVERIES = web.AppKey("deliveries", DeliveryTable)


def create_app(database_url: str) -> web.Application:
    app = web.Application()

    async def deliveries_table(app: web.Application) -> AsyncIterator[None]:
        location = DatabaseLocation.parse(database_url)
        # A table made beforehand (indexed, for the queries) is kept as it is.
        create_table(location, indexed=False)
        if location.kind == "sqlite":
            app[DELIVERIES] = SQLiteDeliveries(location)
        else:
            postgres = PostgresDeliveries(location)
            await postgres.open()
            app[DELIVERIES] = postgres
        yield
        await app[DELIVERIES].close()

    app.cleanup_ctx.append(deliveries_table)
    app.router.add_post("/webhooks/ingresse", receive)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/tickets/{ticket}", current_body)
    app.router.add_get("/tickets/{ticket}/bodies", bodies_in_order)
    app.router.add_get("/bodies", last_bodies)
    return app


async def receive(request: web.Request) -> web.Response:
    body = await request.read()
    row_id = await request.app[DELIVERIES].insert(body)
    return web.json_response({"status": "recorded", "id": row_id}, status=201)


async def current_body(request: web.Request) -> web.Response:
    found = await request.app[DELIVERIES].bodies("current", _number(request, "ticket"), 1)
    if not found:
        return web.json_response({"error": "not_found"}, status=404)
    return web.Response(text=found[0], content_type="application/json")


async def bodies_in_order(request: web.Request) -> web.Response:
    ticket, limit = _number(request, "ticket"), _limit(request)
    return _array(await request.app[DELIVERIES].bodies("in_order", ticket, limit))


async def last_bodies(request: web.Request) -> web.Response:
    event, limit = _number(request, "eventId"), _limit(request)
    return _array(await request.app[DELIVERIES].bodies("last", event, limit))


def _number(request: web.Request, name: str) -> int:
    text = request.match_info.get(name) or request.query.get(name, "")
    try:
        return int(text)
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name} must be an integer") from None


def _limit(request: web.Request) -> int:
    try:
        return min(max(int(request.query.get("limit", DEFAULT_LIMIT)), 1), 1000)
    except ValueError:
        raise web.HTTPBadRequest(text="limit must be an integer") from None


def _array(bodies: list[str]) -> web.Response:
    # The bodies are JSON already: joined, not decoded and encoded again.
    return web.Response(text="[" + ",".join(bodies) + "]", content_type="application/json")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    web.run_app(
        create_app(args.database_url), host="127.0.0.1", port=args.port, access_log=None, print=None
    )


if __name__ == "__main__":
    main()
