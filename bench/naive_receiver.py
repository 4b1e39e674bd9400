"""The baseline: an aiohttp handler doing one INSERT of the raw JSON per request.

Each request is its own transaction, committed before the answer, on the same kind of
database as the service it is compared with. PostgreSQL goes through a psycopg pool as
large as the service's log pool; SQLite through one connection on one writer thread (it
allows one writer at a time), in WAL mode as the service's log is. It runs on uvloop, as
`ticket-audit serve` does, so that the two differ in what they do, not in their event loop.

    python -m bench.naive_receiver --database-url URL --port PORT
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import uvloop
from aiohttp import web
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from service import database
from service.settings import DatabaseLocation

TABLE = "naive_deliveries"
# As many connections as the service's log pool may open (its size plus as many overflow).
POSTGRES_CONNECTIONS = 2 * database.LOG_POOL_SIZE


class DeliveryTable(Protocol):
    async def insert(self, body: bytes) -> int: ...

    async def close(self) -> None: ...


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
        async with self._pool.connection() as connection:
            await connection.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {0} (id bigserial PRIMARY KEY, "
                    "received_at timestamptz NOT NULL DEFAULT now(), body text NOT NULL)"
                ).format(self._table)
            )

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

    async def close(self) -> None:
        await self._pool.close()


class SQLiteDeliveries:
    def __init__(self, location: DatabaseLocation) -> None:
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="naive-writer")
        self._connection = sqlite3.connect(
            location.sqlite_path, check_same_thread=False, isolation_level=None, timeout=5
        )
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (id INTEGER PRIMARY KEY, "
            "received_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, body TEXT NOT NULL)"
        )

    async def insert(self, body: bytes) -> int:
        return await asyncio.get_running_loop().run_in_executor(
            self._writer, self._insert, body.decode()
        )

    def _insert(self, body: str) -> int:
        with self._connection:
            cursor = self._connection.execute(f"INSERT INTO {TABLE} (body) VALUES (?)", (body,))  # noqa: S608
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    async def close(self) -> None:
        self._writer.shutdown(wait=True)
        self._connection.close()


DELIVERIES = web.AppKey("deliveries", DeliveryTable)


def create_app(database_url: str) -> web.Application:
    app = web.Application()

    async def deliveries_table(app: web.Application) -> AsyncIterator[None]:
        location = DatabaseLocation.parse(database_url)
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
    return app


async def receive(request: web.Request) -> web.Response:
    body = await request.read()
    row_id = await request.app[DELIVERIES].insert(body)
    return web.json_response({"status": "recorded", "id": row_id}, status=201)


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
