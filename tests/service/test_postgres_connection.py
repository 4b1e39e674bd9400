"""The database URL's libpq parameters reach every connection the service opens."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from pytest_aiohttp import AiohttpClient

from projections.runtime.leadership import open_leadership
from projections.store.generations import ProjectionStores
from service.persistence.postgres import PostgresChainedRecorder
from service.quarantine import QuarantineUnavailable, open_quarantine
from service.settings import DatabaseLocation
from service.storage import open_log
from tests.helpers import INTAKE, app_clients, delivery, get_json, make_settings, run_cli

pytestmark = pytest.mark.postgres

# Every kind of connection a service that applies its own projections keeps open.
KINDS = {"log", "projections", "queries", "quarantine", "leadership", "listener"}


@pytest.fixture
def schema_url(postgres_database: str) -> Iterator[str]:
    """The run's database with a schema of this test's own, dropped afterwards."""
    schema = f"c_{uuid.uuid4().hex[:16]}"
    yield f"{postgres_database}?schema={schema}"
    with psycopg.connect(postgres_database, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {0} CASCADE").format(sql.Identifier(schema))
        )


def application_names(database: str) -> list[str]:
    """The application name of every other connection to `database`."""
    with psycopg.connect(database, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT application_name FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return sorted(str(name) for (name,) in rows)


async def exercise_every_connection(
    aiohttp_client: AiohttpClient, url: str, ticket_id: int
) -> list[str]:
    """Serve on `url`, touch the log, the quarantine and a projection; the names seen."""
    async with app_clients(aiohttp_client) as serve:
        client = await serve(make_settings(url))
        response = await client.post(INTAKE, data=delivery(ticket_id, quantity=1))
        assert response.status == 201
        position = (await response.json())["position"]
        assert (await client.post(INTAKE, data=b"{")).status == 400
        await get_json(client, f"/v1/tickets/{ticket_id}?minPosition={position}")
        return application_names(url.split("?")[0])


async def test_each_kind_of_connection_is_named_unless_the_url_names_them(
    aiohttp_client: AiohttpClient, schema_url: str
) -> None:
    named = await exercise_every_connection(aiohttp_client, schema_url, 1)
    assert {f"ticket-audit-{kind}" for kind in KINDS} <= set(named), named

    chosen = f"probe-{uuid.uuid4().hex[:8]}"
    renamed = await exercise_every_connection(
        aiohttp_client, f"{schema_url}&application_name={chosen}", 2
    )
    assert len(renamed) >= len(KINDS)
    assert set(renamed) == {chosen}, renamed


def test_sslmode_require_refuses_a_server_without_ssl_on_every_connection(
    schema_url: str,
) -> None:
    location = DatabaseLocation.parse(f"{schema_url}&sslmode=require")

    with pytest.raises(psycopg.OperationalError, match="SSL"):
        open_log(location)
    with pytest.raises(psycopg.OperationalError, match="SSL"):
        ProjectionStores(location)
    quarantine = open_quarantine(location)
    try:
        with pytest.raises(QuarantineUnavailable):
            quarantine.count()
    finally:
        quarantine.close()
    leadership = open_leadership(location)
    try:
        assert not leadership.try_lead("tickets", 1)
    finally:
        leadership.close()


def test_serve_with_sslmode_require_ends_with_one_line_naming_ssl(schema_url: str) -> None:
    result = run_cli("serve", database_url=f"{schema_url}&sslmode=require")

    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert "does not offer SSL, which the database URL's sslmode requires" in result.stderr


def test_an_unknown_url_parameter_is_a_settings_error(schema_url: str) -> None:
    result = run_cli("verify", database_url=f"{schema_url}&sslmod=require")

    assert result.returncode == 2
    assert result.stderr == (
        'ticket-audit: TICKET_AUDIT_DATABASE_URL: invalid connection option "sslmod"\n'
    )


def test_the_log_keeps_them_through_a_storage_probe_and_renewed_connections(
    postgres_database: str, schema_url: str
) -> None:
    chosen = f"probe-{uuid.uuid4().hex[:8]}"
    log = open_log(DatabaseLocation.parse(f"{schema_url}&application_name={chosen}"))
    recorder = log.chained_recorder
    assert isinstance(recorder, PostgresChainedRecorder)
    trigger = sql.Identifier(f"refuse_{chosen.replace('-', '_')}")
    try:
        recorder.renew_connections()
        with recorder.datastore.get_connection() as connection:
            row = connection.execute("SHOW application_name").fetchone()
        assert row is not None
        assert row["application_name"] == chosen

        # The probe's connection lives for one statement: a trigger on its DDL tells which
        # name it connected under, by refusing only that one.
        with psycopg.connect(postgres_database, autocommit=True) as admin:
            admin.execute(
                sql.SQL(
                    "CREATE FUNCTION public.{0}() RETURNS event_trigger LANGUAGE plpgsql AS $$ "
                    "BEGIN IF current_setting('application_name') = {1} THEN "
                    "RAISE EXCEPTION 'probe connected as %', current_setting('application_name'); "
                    "END IF; END $$"
                ).format(trigger, sql.Literal(chosen))
            )
            admin.execute(
                sql.SQL(
                    "CREATE EVENT TRIGGER {0} ON ddl_command_start WHEN TAG IN ('CREATE TABLE') "
                    "EXECUTE FUNCTION public.{0}()"
                ).format(trigger)
            )
        with pytest.raises(psycopg.Error, match=f"probe connected as {chosen}"):
            recorder.probe_write()
    finally:
        log.close()
        with psycopg.connect(postgres_database, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP EVENT TRIGGER IF EXISTS {0}").format(trigger))
            admin.execute(sql.SQL("DROP FUNCTION IF EXISTS public.{0}()").format(trigger))
