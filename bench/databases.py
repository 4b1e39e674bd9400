"""Fresh, disposable databases for each measurement: a Postgres schema or a SQLite folder."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import psycopg
from psycopg import sql

Kind = Literal["postgres", "sqlite"]
# The backends a `--backends` option names.
KINDS: dict[str, Kind] = {"postgres": "postgres", "sqlite": "sqlite"}
CONNECT_TIMEOUT_SECONDS = 5


def default_postgres_url() -> str:
    """The database where measurements make and drop their schemas: the one named by
    `TICKET_AUDIT_BENCH_POSTGRES`, or else the server `make test` uses."""
    return os.environ.get(
        "TICKET_AUDIT_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
    )


@dataclass(frozen=True)
class Backends:
    """Where fresh databases are made: a Postgres database (without schema) and a folder."""

    postgres_url: str
    workdir: Path


@dataclass(frozen=True)
class FreshDatabase:
    kind: Kind
    url: str
    sqlite_dir: Path | None = None
    postgres_url: str | None = None
    schema: str | None = None


@contextmanager
def fresh_database(backends: Backends, kind: Kind, label: str) -> Iterator[FreshDatabase]:
    """A database nobody else uses, removed (schema dropped, files deleted) on the way out.

    Whatever runs against it must have stopped before the block ends.
    """
    name = f"bench_{label}_{uuid.uuid4().hex[:10]}"
    if kind == "sqlite":
        folder = backends.workdir / name
        folder.mkdir(parents=True)
        try:
            yield FreshDatabase(kind, f"sqlite:///{folder / 'ticket-audit.sqlite3'}", folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    statement = sql.SQL("CREATE SCHEMA {0}").format(sql.Identifier(name))
    _execute(backends.postgres_url, statement)
    separator = "&" if "?" in backends.postgres_url else "?"
    try:
        url = f"{backends.postgres_url}{separator}schema={name}"
        yield FreshDatabase(kind, url, postgres_url=backends.postgres_url, schema=name)
    finally:
        _execute(
            backends.postgres_url,
            sql.SQL("DROP SCHEMA IF EXISTS {0} CASCADE").format(sql.Identifier(name)),
        )


def _execute(url: str, statement: sql.Composed) -> None:
    with psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS) as conn:
        conn.execute(statement)


def postgres_version(url: str) -> str:
    with psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "unknown"


def bytes_on_disk(database: FreshDatabase) -> dict[str, int]:
    """Every table (with its indexes and TOAST) or every file of the database, by name."""
    if database.sqlite_dir is not None:
        return {path.name: path.stat().st_size for path in sorted(database.sqlite_dir.iterdir())}
    query = (
        "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind = 'r' ORDER BY c.relname"
    )
    assert database.postgres_url is not None
    with psycopg.connect(
        database.postgres_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS
    ) as conn:
        rows = conn.execute(query, (database.schema,)).fetchall()
    return {str(name): int(size) for name, size in rows}
