"""`ticket-audit rebuild` killed with SIGKILL partway, then run again, ends as a clean build.

The same deliveries are recorded in two places; one has its projections rebuilt with a crash
in the middle, the other is built once without interruption. Every answer must match.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from pytest_aiohttp import AiohttpClient

from projections.catalog import CATALOG
from service.canonical import content_id, data_hash, delivery_id
from service.domain import DeliveryFacts
from service.settings import DatabaseLocation
from service.storage import open_log
from tests.helpers import TICKET_AUDIT, Client, Serve, app_clients, cli_env, make_settings, run_cli

EVENTS = 3000
TICKETS = 150
BATCH = 500
# tqdm's bar shows "done/total" ("1.50k/3.00k"): killed between the two, the projection being
# rebuilt has committed some batches but not all.
PROGRESS = re.compile(rb"(\d+(?:\.\d+)?k?)/(\d+(?:\.\d+)?k?)")
KILL_WAIT_SECONDS = 60
SAMPLED_TICKETS = (1, 2, 77, TICKETS)
RECEIVED_AT = re.compile(rb'"receivedAt":"[^"]*"')


@pytest.fixture
async def serve(database_url: str, aiohttp_client: AiohttpClient) -> AsyncIterator[Serve]:
    async with app_clients(aiohttp_client) as start:
        yield start


@pytest.fixture
def clean_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A second, empty place beside `database_url` on the same backend."""
    location = DatabaseLocation.parse(database_url)
    if location.kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'clean' / 'ticket-audit.sqlite3'}"
        return
    schema = f"clean_{uuid.uuid4().hex[:12]}"
    yield database_url.replace(f"schema={location.schema}", f"schema={schema}")
    with psycopg.connect(location.postgres_conninfo(), autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {0} CASCADE").format(sql.Identifier(schema))
        )


def deliveries() -> list[DeliveryFacts]:
    """EVENTS deliveries over TICKETS tickets; every fifth arrives with an earlier source time."""
    facts = []
    for number in range(EVENTS):
        ticket = number % TICKETS + 1
        version = number // TICKETS
        late = version % 5 == 4
        source = datetime(2024, 5, 1, tzinfo=UTC) + timedelta(hours=version - (3 if late else 0))
        data = {
            "id": ticket,
            "eventId": ticket % 7,
            "quantity": version * 3 % 11,
            "value": {"price": version % 4},
            "salePeriods": [{"id": 10 + version % 3, "start": source.isoformat()}],
        }
        stamp = source.replace(tzinfo=None).isoformat()
        raw = json.dumps({"webhook": "ticket", "data": data, "timestamp": stamp}).encode()
        facts.append(
            DeliveryFacts(
                ticket_id=ticket,
                event_id=ticket % 7,
                source_timestamp=source,
                source_timestamp_text=stamp,
                data=data,
                raw_body=raw,
                delivery_id=delivery_id(raw),
                data_hash=data_hash(data),
                content_id=content_id(stamp, data_hash(data)),
            )
        )
    return facts


def seed(database_url: str, facts: list[DeliveryFacts]) -> None:
    log = open_log(DatabaseLocation.parse(database_url))
    try:
        for start in range(0, len(facts), BATCH):
            outcomes = log.record_deliveries(facts[start : start + BATCH])
            assert all(outcome.status == "recorded" for outcome in outcomes)
    finally:
        log.close()


def rebuild_killed_partway(database_url: str) -> None:
    """Start `rebuild` and SIGKILL it while its progress bar shows a projection partly done."""
    process = subprocess.Popen(
        [TICKET_AUDIT, "rebuild"],
        # Every step of the bar is drawn: at its default tenth of a second, a rebuild of a
        # log this small may go from 0% to 100% with nothing in between to kill it at.
        env=cli_env(database_url, TQDM_MININTERVAL="0"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    output = b""
    deadline = time.monotonic() + KILL_WAIT_SECONDS
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([process.stderr], [], [], 0.5)
            if ready:
                chunk = os.read(process.stderr.fileno(), 4096)
                assert chunk, f"rebuild ended before it could be killed: {output.decode()}"
                output += chunk
                if any(
                    0 < amount(done) < amount(total) for done, total in PROGRESS.findall(output)
                ):
                    process.send_signal(signal.SIGKILL)
                    break
        else:
            raise AssertionError(f"no progress within {KILL_WAIT_SECONDS}s: {output.decode()}")
    finally:
        process.kill()
        process.wait()
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL


def amount(shown: bytes) -> float:
    return float(shown.removesuffix(b"k")) * (1000 if shown.endswith(b"k") else 1)


async def answers(client: Client, head: int) -> dict[str, bytes]:
    paths = [
        f"/v1/tickets?limit=1000&minPosition={head}",
        f"/v1/changes?format=ndjson&minPosition={head}",
        *[f"/v1/tickets/{ticket}/history?limit=1000" for ticket in SAMPLED_TICKETS],
        *[f"/v1/tickets/{ticket}/quantity" for ticket in SAMPLED_TICKETS],
        *[f"/v1/tickets/{ticket}/sale-periods" for ticket in SAMPLED_TICKETS],
    ]
    found = {}
    for path in paths:
        response = await client.get(path)
        assert response.status == 200, (path, await response.text())
        # Each database stamped its own received times when it recorded the same deliveries.
        found[path] = RECEIVED_AT.sub(b"", await response.read())
    return found


async def test_rebuild_killed_mid_apply_then_rerun_equals_a_clean_build(
    serve: Serve, database_url: str, clean_url: str
) -> None:
    facts = deliveries()
    seed(database_url, facts)
    seed(clean_url, facts)

    rebuild_killed_partway(database_url)
    finished = run_cli("rebuild", database_url=database_url)
    assert finished.returncode == 0, finished.stderr
    applied = [int(count) for count in re.findall(r"rebuilt from (\d+) events", finished.stdout)]
    assert len(applied) == len(CATALOG), finished.stdout
    # The rerun resumed every projection from its tracked position: the bar showed both
    # processes partway, so each read less than the whole log, and one had some left.
    assert all(count < EVENTS for count in applied), applied
    assert max(applied) > 0, applied

    crashed = await answers(await serve(make_settings(database_url)), EVENTS)
    clean = await answers(await serve(make_settings(clean_url)), EVENTS)
    assert crashed.keys() == clean.keys()
    for path in crashed:
        assert crashed[path] == clean[path], path
