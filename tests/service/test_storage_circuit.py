"""Storage that stops taking writes: deliveries are refused at once, and taken again as soon
as it is back; the queue in front of the writer is bounded. On every backend, plus the faults
of a SQLite file (read-only, full)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

import psycopg
import pytest
from eventsourcing.sqlite import SQLiteConnection
from psycopg import sql
from pytest_aiohttp import AiohttpClient

from service.persistence.sqlite import SQLiteChainedRecorder
from service.settings import DatabaseLocation, SettingsError, load_settings
from service.web.keys import LOG
from tests.helpers import (
    INTAKE,
    Client,
    Serve,
    app_clients,
    delivery,
    json_body,
    make_settings,
    post,
    raw_log,
)
from tests.service.serve_process import call, serving_process

STORAGE_UNAVAILABLE = (503, {"error": "storage_unavailable"})
METRIC_TRIES = 500
METRIC_PAUSE_SECONDS = 0.01
# The probe closes the circuit within 1 s of storage's return; checked with a wide margin.
HEALED_WITHIN_SECONDS = 10.0
HEAL_PAUSE_SECONDS = 0.05
IDLE_POOL_TRIES = 500
READ_ONLY_CAUSE = {"sqlite": "database file is read-only", "postgres": "database is read-only"}


async def metric(client: Client, name: str) -> float:
    text = await (await client.get("/metrics")).text()
    (line,) = [line for line in text.splitlines() if line.startswith(f"{name} ")]
    return float(line.split()[1])


async def until_metric(client: Client, name: str, value: float) -> None:
    for _ in range(METRIC_TRIES):
        if await metric(client, name) == value:
            return
        await asyncio.sleep(METRIC_PAUSE_SECONDS)
    raise AssertionError(f"{name} never reached {value}")


@contextmanager
def log_write_lock_held(database_url: str) -> Iterator[None]:
    """Another session holds the log's write lock, so the service's writer waits on it."""
    sqlite = DatabaseLocation.parse(database_url).kind == "sqlite"
    with raw_log(database_url) as raw:
        raw.execute("BEGIN IMMEDIATE" if sqlite else "BEGIN")
        if not sqlite:
            raw.execute("LOCK TABLE stored_events IN EXCLUSIVE MODE")
        try:
            yield
        finally:
            raw.execute("ROLLBACK")


@pytest.mark.parametrize("bound", ["deliveries", "bytes"])
async def test_past_the_queue_bound_a_delivery_is_refused_at_once(
    serve: Serve, database_url: str, bound: str
) -> None:
    first, second, third = (delivery(ticket_id) for ticket_id in (1, 2, 3))
    if bound == "deliveries":
        client = await serve(make_settings(database_url, intake_queue_deliveries=1))
    else:
        largest = max(len(second), len(third))
        client = await serve(
            make_settings(
                database_url,
                max_body_bytes=largest,
                intake_queue_bytes=len(second) + len(third) - 1,
            )
        )
    assert (await post(client, delivery(9)))[0] == 201
    with log_write_lock_held(database_url):
        writing = asyncio.create_task(post(client, first))
        await until_metric(client, "ticket_audit_intake_writing_deliveries", 1)
        waiting = asyncio.create_task(post(client, second))
        await until_metric(client, "ticket_audit_intake_waiting_deliveries", 1)
        # Answered while the writer is still stuck: it did not wait for room.
        status, body = await post(client, third)
        assert (status, body) == (503, {"error": "queue_full"})
    assert [(await writing)[0], (await waiting)[0]] == [201, 201]
    assert (await post(client, third))[0] == 201


def test_the_queue_must_hold_the_largest_delivery() -> None:
    with pytest.raises(SettingsError, match=r"^TICKET_AUDIT_INTAKE_QUEUE_BYTES: must be at least"):
        load_settings(max_body_bytes=2048, intake_queue_bytes=2047)
    defaults = make_settings("sqlite:///unused.sqlite3")
    assert defaults.intake_queue_bytes >= defaults.max_body_bytes


async def until_recorded(client: Client, body: bytes) -> None:
    started = time.monotonic()
    while (answer := await post(client, body))[0] == 503:
        assert time.monotonic() - started < HEALED_WITHIN_SECONDS, answer
        await asyncio.sleep(HEAL_PAUSE_SECONDS)
    assert answer[0] == 201, answer


def on_every_log_connection(client: Client, statement: str) -> None:
    """Run a PRAGMA on each connection of the log, those pooled now and those it opens
    later: SQLite keeps these per connection, which is how a fault of the file is staged
    without a read-only or full disk.

    The projections read the log through the same pool: the PRAGMA waits for a moment when
    every connection is idle, so none is missed.
    """
    pool = cast(SQLiteChainedRecorder, client.app[LOG].recorder).datastore.pool
    create = pool._create_connection

    def with_the_pragma(connection: SQLiteConnection) -> SQLiteConnection:
        cursor = connection.cursor()
        cursor.execute("PRAGMA page_count")
        (pages,) = cursor.fetchone()
        cursor.execute(statement.format(pages=pages))
        return connection

    # First for connections opened from now on, then for those already open.
    pool._create_connection = lambda: with_the_pragma(create())  # type: ignore[method-assign]
    for _ in range(IDLE_POOL_TRIES):
        taken = [pool.get_connection(is_writer=False) for _ in range(pool.num_in_pool)]
        try:
            if pool.num_in_use == len(taken):
                for connection in taken:
                    with_the_pragma(connection)
                return
        finally:
            for connection in taken:
                pool.put_connection(connection)
        time.sleep(METRIC_PAUSE_SECONDS)
    raise AssertionError("the log's connections were never all idle")


def large_delivery(ticket_id: int) -> bytes:
    # Random text does not compress: it needs pages the full file does not have.
    return delivery(ticket_id, notes=os.urandom(30_000).hex())


@contextmanager
def read_only(client: Client, database_url: str) -> Iterator[None]:
    """The log's storage refuses writes: a read-only SQLite file, a read-only database."""
    location = DatabaseLocation.parse(database_url)
    if location.kind == "sqlite":
        on_every_log_connection(client, "PRAGMA query_only = 1")
        try:
            yield
        finally:
            on_every_log_connection(client, "PRAGMA query_only = 0")
        return
    name = sql.Identifier(location.dbname)
    with psycopg.connect(location.postgres_conninfo(), autocommit=True) as admin:
        admin.execute(
            sql.SQL("ALTER DATABASE {0} SET default_transaction_read_only = on").format(name)
        )
        try:
            yield
        finally:
            admin.execute(
                sql.SQL("ALTER DATABASE {0} RESET default_transaction_read_only").format(name)
            )


async def test_storage_that_refuses_writes_is_not_ready_and_refuses_deliveries_at_once(
    serve: Serve, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="service.storage_circuit")
    client = await serve(make_settings(database_url))
    assert (await post(client, delivery(1)))[0] == 201
    assert (await client.get("/readyz")).status == 200
    with read_only(client, database_url):
        readiness = await client.get("/readyz")
        body = await json_body(readiness)
        assert (readiness.status, body["storage"]) == (503, "unavailable")
        cause = (
            "database file is read-only" if "sqlite" in database_url else "database is read-only"
        )
        assert body["cause"] == cause
        assert await post(client, delivery(2)) == STORAGE_UNAVAILABLE
    await until_recorded(client, delivery(2))
    assert (await client.get("/readyz")).status == 200
    assert_down_then_back(caplog, READ_ONLY_CAUSE[DatabaseLocation.parse(database_url).kind])


def assert_down_then_back(caplog: pytest.LogCaptureFixture, cause: str) -> None:
    """One line when storage went down, naming the cause, and one when it came back."""
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"storage down: {cause};")
    assert lines[1].startswith("storage back after ")


async def test_a_full_sqlite_file_opens_the_circuit_until_it_has_room(
    aiohttp_client: AiohttpClient, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="service.storage_circuit")
    async with app_clients(aiohttp_client) as serve:
        await full_file_refuses_until_it_has_room(
            await serve(make_settings(f"sqlite:///{tmp_path / 'log.sqlite3'}"))
        )
    assert_down_then_back(caplog, "disk full")


async def full_file_refuses_until_it_has_room(client: Client) -> None:
    assert (await post(client, delivery(1)))[0] == 201

    on_every_log_connection(client, "PRAGMA max_page_count = {pages}")
    assert await post(client, large_delivery(2)) == STORAGE_UNAVAILABLE
    # A small delivery would fit in the file's last page: the open circuit refuses it.
    assert await post(client, delivery(3)) == STORAGE_UNAVAILABLE
    readiness = await client.get("/readyz")
    assert (readiness.status, (await json_body(readiness))["cause"]) == (503, "disk full")

    on_every_log_connection(client, "PRAGMA max_page_count = 1073741823")
    await until_recorded(client, large_delivery(2))


def outcomes(base: str) -> dict[str, float]:
    """Deliveries answered so far, by outcome, from `serve`'s metrics."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    prefix = 'ticket_audit_deliveries_total{outcome="'
    return {
        line[len(prefix) :].split('"')[0]: float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith(prefix)
    }


def test_a_client_that_leaves_mid_body_is_not_a_storage_failure(
    database_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    body = large_delivery(1)
    with serving_process(database_url, log=log) as (base, _):
        host, port = urllib.parse.urlsplit(base).hostname, urllib.parse.urlsplit(base).port
        with socket.create_connection((host, port)) as sender:
            head = f"POST {INTAKE} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n\r\n"
            sender.sendall(head.encode() + body[: len(body) // 2])
        for _ in range(METRIC_TRIES):
            if answered := outcomes(base):
                break
            time.sleep(METRIC_PAUSE_SECONDS)
        assert answered == {"client_closed_request": 1.0}
        assert call(base, "GET", "/readyz")[0] == 200
        assert call(base, "POST", INTAKE, body)[0] == 201
    assert "storage" not in log.read_text()
