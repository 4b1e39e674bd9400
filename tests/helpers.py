"""Helpers shared by the service tests: settings, deliveries, the app, the CLI, raw storage."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import psycopg
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient
from psycopg import sql
from pydantic import SecretStr
from pytest_aiohttp import AiohttpClient

from service.application import TicketAudit
from service.settings import DatabaseLocation, Settings
from service.storage import open_log
from service.web.app import create_app

Client = TestClient[web.Request, web.Application]

# Real Ingresse deliveries, kept with the tests.
FIXTURES = Path(__file__).resolve().parent / "fixtures"
# The console script installed beside the interpreter running the tests.
TICKET_AUDIT = str(Path(sys.executable).with_name("ticket-audit"))
CLI_TIMEOUT_SECONDS = 60
INTAKE = "/webhooks/ingresse"
SOURCE_TIME = "2024-05-17T14:30:12"
# eventsourcing's PostgreSQL recorder names the events table after the application; on SQLite
# it is `stored_events`.
POSTGRES_EVENTS_TABLE = f"{TicketAudit.name.lower()}_events"


def make_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings that ignore any TICKET_AUDIT_* variable of the shell running the tests."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "webhook_token": None,
        "signing_secret": None,
        "read_token": None,
        "admin_token": None,
    }
    for name, value in overrides.items():
        secret = name in ("webhook_token", "signing_secret", "read_token", "admin_token")
        values[name] = SecretStr(value) if secret and isinstance(value, str) else value
    return Settings(**values)


Serve = Callable[[Settings], Awaitable[Client]]


@asynccontextmanager
async def app_clients(aiohttp_client: AiohttpClient) -> AsyncIterator[Serve]:
    """Start the real app on demand and stop every one started when the block ends.

    A test module's fixture wraps this and depends on `database_url`, so each app (and the
    projections it runs against the log) has stopped before that fixture drops the storage.
    """
    clients: list[Client] = []

    async def serve(settings: Settings) -> Client:
        client = await aiohttp_client(create_app(settings))
        clients.append(client)
        return client

    try:
        yield serve
    finally:
        for client in clients:
            await client.close()


def delivery(
    ticket_id: int,
    *,
    timestamp: str = SOURCE_TIME,
    webhook: str = "ticket",
    **fields: Any,
) -> bytes:
    """A small delivery body for one ticket; `fields` land in `data` beside its `id`."""
    envelope = {"webhook": webhook, "data": {"id": ticket_id, **fields}, "timestamp": timestamp}
    return json.dumps(envelope, separators=(",", ":")).encode()


def compact(body: bytes) -> bytes:
    return json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False).encode()


async def post(client: Client, body: bytes, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    response = await client.post(INTAKE, data=body, **kwargs)
    return response.status, await json_body(response)


async def json_body(response: ClientResponse) -> dict[str, Any]:
    assert response.content_type == "application/json", await response.text()
    decoded: dict[str, Any] = json.loads(await response.read())
    return decoded


async def get_json(
    client: Client, path: str, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> dict[str, Any]:
    response = await client.get(path, headers=headers)
    body = await json_body(response)
    assert response.status == status, body
    return body


async def head_position(client: Client, headers: Mapping[str, str] | None = None) -> int:
    checkpoint = await get_json(client, "/v1/audit/checkpoint", headers=headers)
    position: int = checkpoint["position"]
    return position


def cli_env(database_url: str, **variables: str) -> dict[str, str]:
    """The test process's environment without its TICKET_AUDIT_* variables, plus `variables`."""
    env = {
        name: value for name, value in os.environ.items() if not name.startswith("TICKET_AUDIT_")
    }
    env["TICKET_AUDIT_DATABASE_URL"] = database_url
    env.update(variables)
    return env


def run_cli(
    *args: str, database_url: str, cwd: Path | None = None, **variables: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TICKET_AUDIT, *args],
        env=cli_env(database_url, **variables),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_SECONDS,
        check=False,
    )


def create_log(database_url: str) -> None:
    """Make an empty log at `database_url`, as the first `serve` there would."""
    open_log(DatabaseLocation.parse(database_url)).close()


def log_exists(database_url: str) -> bool:
    location = DatabaseLocation.parse(database_url)
    if location.kind == "sqlite":
        return Path(location.sqlite_path).exists()
    with psycopg.connect(location.postgres_conninfo(), autocommit=True) as connection:
        row = connection.execute(
            "SELECT to_regclass(%s) IS NOT NULL",
            (f'"{location.schema}".{POSTGRES_EVENTS_TABLE}',),
        ).fetchone()
    return bool(row and row[0])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def raw_log(database_url: str) -> Iterator[RawLog]:
    """Direct access to the log's tables, bypassing the service, as a tamperer would have."""
    location = DatabaseLocation.parse(database_url)
    if location.kind == "sqlite":
        connection = sqlite3.connect(location.sqlite_path, isolation_level=None)
        try:
            yield RawLog(location, sqlite=connection)
        finally:
            connection.close()
        return
    with psycopg.connect(location.postgres_conninfo(), autocommit=True) as pg:
        yield RawLog(location, postgres=pg)


class RawLog:
    """The two tables of the log, with positions as the service numbers them."""

    def __init__(
        self,
        location: DatabaseLocation,
        *,
        sqlite: sqlite3.Connection | None = None,
        postgres: psycopg.Connection[Any] | None = None,
    ) -> None:
        self._location = location
        self._sqlite = sqlite
        self._postgres = postgres

    def execute(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement written for SQLite with `?` marks and `rowid` as the position.

        On PostgreSQL the position column is `notification_id`, the tables live in the
        location's schema, and the library names the events table after the application.
        """
        if self._sqlite is not None:
            return self._sqlite.execute(statement, params).fetchall()
        assert self._postgres is not None
        self._postgres.execute(
            sql.SQL("SET search_path TO {0}").format(sql.Identifier(self._location.schema))
        )
        translated = (
            statement.replace("stored_events", POSTGRES_EVENTS_TABLE)
            .replace("rowid", "notification_id")
            .replace("?", "%s")
        )
        cursor = self._postgres.execute(translated.encode(), params)
        return cursor.fetchall() if cursor.description else []

    def state(self, position: int) -> bytes:
        (row,) = self.execute("SELECT state FROM stored_events WHERE rowid = ?", (position,))
        return bytes(row[0])

    def set_state(self, position: int, state: bytes) -> None:
        self.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (state, position))

    def delete_event(self, position: int) -> None:
        self.execute("DELETE FROM stored_events WHERE rowid = ?", (position,))

    def delete_link(self, position: int) -> None:
        self.execute("DELETE FROM event_chain WHERE position = ?", (position,))

    def copy_event(self, position: int, new_version: int) -> None:
        """Append a copy of an event under a new version, as if written behind the service."""
        self.execute(
            "INSERT INTO stored_events (originator_id, originator_version, topic, state) "
            "SELECT originator_id, ?, topic, state FROM stored_events WHERE rowid = ?",
            (new_version, position),
        )


async def projections_caught_up(
    client: Client, position: int, headers: Mapping[str, str] | None = None, tries: int = 200
) -> None:
    """Wait until every projection has applied `position`, so none reads the log afterwards.

    Tests that edit stored rows behind the service's back wait for this first: a projection
    reading a forged row mid-test would only add noise to what the test is about.
    """
    for _ in range(tries):
        response = await client.get("/v1/projections", headers=headers)
        assert response.status == 200, await response.text()
        status: list[dict[str, Any]] = await response.json()
        if all(projection["position"] >= position for projection in status):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"projections did not reach position {position}")
