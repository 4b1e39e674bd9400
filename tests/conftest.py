"""Backends for the shared test cases: every storage test runs on SQLite and on PostgreSQL.

PostgreSQL is the real server; each test run gets its own database and each test its own
schema in it, both dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from pytest_aiohttp import AiohttpClient

from tests.helpers import FIXTURES, Serve, app_clients

ADMIN_URL = os.environ.get(
    "TICKET_AUDIT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    name = f"ticket_audit_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        if os.environ.get("TICKET_AUDIT_SKIP_POSTGRES") == "1":
            pytest.skip("TICKET_AUDIT_SKIP_POSTGRES=1 and PostgreSQL is unreachable")
        pytest.fail(f"PostgreSQL unreachable at {ADMIN_URL}: {error}")
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {0}").format(sql.Identifier(name)))
    base = ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {0} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        # `serve` creates a log only in a folder that exists.
        (tmp_path / "log").mkdir()
        yield f"sqlite:///{tmp_path / 'log' / 'ticket-audit.sqlite3'}"
        return
    database = request.getfixturevalue("postgres_database")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    yield f"{database}?schema={schema}"
    with psycopg.connect(database, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {0} CASCADE").format(sql.Identifier(schema))
        )


@pytest.fixture
def fixture_bodies() -> dict[str, bytes]:
    return {path.stem: path.read_bytes() for path in sorted(FIXTURES.glob("*.json"))}


@pytest.fixture
async def serve(database_url: str, aiohttp_client: AiohttpClient) -> AsyncIterator[Serve]:
    """Starts apps on the test's database; they stop before its schema is dropped."""
    async with app_clients(aiohttp_client) as start:
        yield start
