"""One process applies each projection: a leader that loses its lock stops applying."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager

import psycopg
import pytest
from psycopg import sql
from pytest_aiohttp import AiohttpClient

from projections.catalog import CATALOG
from projections.runtime.applier import Applier
from projections.runtime.leadership import Leadership, open_leadership
from projections.runtime.wakeups import LogSignal
from projections.store.generations import ProjectionStores
from service.application import TicketAudit
from service.database import prepare_storage
from service.settings import DatabaseLocation
from tests.helpers import Serve, app_clients, delivery, get_json, make_settings, post
from tests.projections.helpers import opened

TAKEOVER_WITHIN_SECONDS = 20.0
TAKEOVER_PAUSE_SECONDS = 0.05
# A standby polls the tracked positions every 0.1 s; this bounds a wait that should end at once.
STANDBY_CATCH_UP_SECONDS = 10.0
HOLDERS = """
    SELECT pid, count(*) FROM pg_locks
    WHERE locktype = 'advisory' AND granted
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
    GROUP BY pid
"""


@contextmanager
def admin_session(location: DatabaseLocation) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(location.postgres_conninfo(), autocommit=True) as connection:
        yield connection


def lock_holders(admin: psycopg.Connection[tuple[object, ...]]) -> dict[int, int]:
    """Backend pid -> advisory locks it holds in the test's database."""
    return {int(str(pid)): int(str(count)) for pid, count in admin.execute(HOLDERS).fetchall()}


async def until(condition: object, what: str) -> None:
    assert callable(condition)
    deadline = time.monotonic() + TAKEOVER_WITHIN_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"waited too long for {what}"
        await asyncio.sleep(TAKEOVER_PAUSE_SECONDS)


def test_a_held_lock_is_still_held_until_resigned(database_url: str) -> None:
    location = DatabaseLocation.parse(database_url)
    prepare_storage(location)
    leadership = open_leadership(location)
    try:
        assert leadership.try_lead("tickets", 1)
        assert leadership.still_leads("tickets", 1)
        assert not leadership.still_leads("tickets", 2)
        leadership.resign("tickets", 1)
        assert not leadership.still_leads("tickets", 1)
    finally:
        leadership.close()


@pytest.fixture
def postgres_url(postgres_database: str) -> Iterator[str]:
    """A schema of the test's own: these tests need PostgreSQL's session locks."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    yield f"{postgres_database}?schema={schema}"
    with psycopg.connect(postgres_database, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {0} CASCADE").format(sql.Identifier(schema))
        )


@pytest.fixture
async def serve_postgres(postgres_url: str, aiohttp_client: AiohttpClient) -> AsyncIterator[Serve]:
    async with app_clients(aiohttp_client) as start:
        yield start


@pytest.mark.postgres
async def test_a_leader_whose_connection_dropped_stops_leading(postgres_url: str) -> None:
    location = DatabaseLocation.parse(postgres_url)
    prepare_storage(location)
    first, second = open_leadership(location), open_leadership(location)
    try:
        assert first.try_lead("tickets", 1)
        assert not second.try_lead("tickets", 1)
        with admin_session(location) as admin:
            (leader,) = lock_holders(admin)
            admin.execute("SELECT pg_terminate_backend(%s)", (leader,))
        await until(lambda: second.try_lead("tickets", 1), "the standby to take the lock")
        assert not first.still_leads("tickets", 1)
        assert not first.try_lead("tickets", 1)
    finally:
        first.close()
        second.close()


@pytest.mark.postgres
async def test_a_serving_leader_that_lost_its_lock_stops_applying(
    serve_postgres: Serve, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="projections.live")
    location = DatabaseLocation.parse(postgres_url)
    first = await serve_postgres(make_settings(postgres_url))
    with admin_session(location) as admin:
        await until(lambda: list(lock_holders(admin).values()) == [len(CATALOG)], "one leader")
        (leader,) = lock_holders(admin)
        second = await serve_postgres(make_settings(postgres_url))
        admin.execute("SELECT pg_terminate_backend(%s)", (leader,))
        await until(
            lambda: len(lost_locks(caplog)) == len(CATALOG), "the old leader to stop applying"
        )
        # Every projection is led by one process again (the first leads again only a lock
        # that was still free), never by the dropped session.
        await until(lambda: sum(lock_holders(admin).values()) == len(CATALOG), "a new leader")
        assert leader not in lock_holders(admin)
    status, answer = await post(first, delivery(7, quantity=3))
    assert status == 201
    for client in (first, second):
        state = await get_json(client, f"/v1/tickets/7?minPosition={answer['position']}")
        assert state["snapshot"]["quantity"] == 3
    assert sorted(lost_locks(caplog)) == sorted(CATALOG)


class StandbyOpenedBeforeTheLeaderWentOn(Applier):
    """A standby whose start is overtaken: between opening its projections and following
    them, the leading process applies the deliveries `meanwhile` posts, as a leader in
    another process may while this one is slow to start."""

    def __init__(
        self,
        log: TicketAudit,
        stores: ProjectionStores,
        leadership: Leadership,
        meanwhile: Callable[[], Awaitable[None]],
    ) -> None:
        super().__init__(log, stores, CATALOG, LogSignal(), leadership)
        self._meanwhile = meanwhile

    async def _open_answering(self) -> None:
        await super()._open_answering()
        await self._meanwhile()


async def test_a_standby_overtaken_while_starting_answers_at_the_leaders_position(
    serve: Serve, database_url: str
) -> None:
    leader = await serve(make_settings(database_url))
    head = 0

    async def leader_applies_deliveries() -> None:
        nonlocal head
        for quantity in range(3):
            status, answer = await post(leader, delivery(7, quantity=quantity))
            assert status == 201, answer
            head = answer["position"]
        await get_json(leader, f"/v1/tickets/7?minPosition={head}")

    with opened(database_url) as (log, stores):
        leadership = open_leadership(DatabaseLocation.parse(database_url))
        standby = StandbyOpenedBeforeTheLeaderWentOn(
            log, stores, leadership, leader_applies_deliveries
        )
        await standby.start()
        try:
            assert not leadership.try_lead("tickets", 1), "the serving app should lead"
            # No delivery follows: the standby must learn the position from what it read.
            caught_up = await standby.wait_for(head, CATALOG, STANDBY_CATCH_UP_SECONDS)
            status = {item["name"]: item["position"] for item in await standby.status()}
            assert caught_up, status
            assert status == dict.fromkeys(CATALOG, head)
        finally:
            await standby.stop()
            leadership.close()


def lost_locks(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The projections whose leader logged that it lost its lock."""
    suffix = " lost its leadership lock; stopped applying until it holds it again"
    return [
        message.removeprefix("projection ").removesuffix(suffix)
        for record in caplog.records
        if (message := record.getMessage()).endswith(suffix)
    ]
