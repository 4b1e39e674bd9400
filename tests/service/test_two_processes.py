"""Two `serve` processes on one database, taking deliveries for the same tickets at once.

Nothing is lost, no version is taken twice, identical copies make one event however they are
split between the processes, the chain stays whole, and each projection is applied by one
process only, so both answer the same.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import ExitStack
from typing import Any

import aiohttp

from service.settings import DatabaseLocation
from tests.helpers import INTAKE, delivery, raw_log
from tests.service.serve_process import serving

TICKETS = 10
DISTINCT_PER_TICKET = 20
COPIES = 20
COPIED_TICKET = 99
# The projection worker runs at the lowest CPU priority, so on a busy machine it may pause for
# a while; the wait fails only when no projection has moved for this long.
NO_PROGRESS_SECONDS = 60.0
POLL_SECONDS = 0.05


def distinct_bodies() -> list[tuple[int, bytes]]:
    """Bodies for TICKETS tickets, every one new; source times shuffled so some land late."""
    bodies = []
    for number in range(DISTINCT_PER_TICKET):
        for ticket in range(1, TICKETS + 1):
            minute = (number * 7) % DISTINCT_PER_TICKET
            stamp = f"2024-05-17T14:{minute:02d}:{number:02d}"
            bodies.append((ticket, delivery(ticket, timestamp=stamp, quantity=number)))
    return bodies


async def post(session: aiohttp.ClientSession, base: str, body: bytes) -> tuple[int, Any]:
    async with session.post(f"{base}{INTAKE}", data=body) as response:
        return response.status, await response.json()


async def read(session: aiohttp.ClientSession, base: str, path: str) -> tuple[int, bytes]:
    async with session.get(f"{base}{path}") as response:
        return response.status, await response.read()


async def read_json(session: aiohttp.ClientSession, base: str, path: str) -> Any:
    status, body = await read(session, base, path)
    assert status == 200, (base, path, body[:300])
    return json.loads(body)


async def projections_at(session: aiohttp.ClientSession, base: str, head: int) -> list[Any]:
    """The projections' status once every one has applied `head`, waiting for as long as they
    keep moving towards it."""
    loop = asyncio.get_running_loop()
    progress: list[int] = []
    moved_at = loop.time()
    while True:
        status: list[dict[str, Any]] = await read_json(session, base, "/v1/projections")
        positions = [projection["position"] for projection in status]
        if all(position >= head for position in positions):
            return status
        if positions != progress:
            progress, moved_at = positions, loop.time()
        elif loop.time() - moved_at > NO_PROGRESS_SECONDS:
            raise AssertionError(f"{base}: projections stopped short of {head}: {status}")
        await asyncio.sleep(POLL_SECONDS)


def advisory_locks_held(database_url: str) -> int:
    with raw_log(database_url) as log:
        ((held,),) = log.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
    return int(held)


async def test_two_servers_on_one_database_lose_nothing_and_agree(database_url: str) -> None:
    with ExitStack() as stack:
        servers = [stack.enter_context(serving(database_url)) for _ in range(2)]
        async with aiohttp.ClientSession() as session:
            await exercise(session, servers, database_url)


async def exercise(session: aiohttp.ClientSession, servers: list[str], database_url: str) -> None:
    bodies = distinct_bodies()
    copied = delivery(COPIED_TICKET, quantity=1, note="the same body, many times")
    sends = [post(session, servers[index % 2], body) for index, (_, body) in enumerate(bodies)]
    sends += [post(session, servers[index % 2], copied) for index in range(COPIES)]
    answers = await asyncio.gather(*sends)

    distinct, copies = answers[: len(bodies)], answers[len(bodies) :]
    assert all(status == 201 for status, _ in distinct), [a for a in distinct if a[0] != 201]
    recorded = [answer for status, answer in copies if status == 201]
    assert len(recorded) == 1, copies
    duplicates = [answer for status, answer in copies if status == 200]
    assert len(duplicates) == COPIES - 1, copies
    for duplicate in duplicates:
        assert duplicate["status"] == "duplicate", duplicate
        assert duplicate["position"] == recorded[0]["position"], (duplicate, recorded)

    events = [answer for _, answer in distinct] + recorded
    positions = sorted(answer["position"] for answer in events)
    # PostgreSQL may skip sequence numbers when the two processes' transactions conflict and
    # one retries, so positions need not be dense; they must never repeat.
    assert len(set(positions)) == len(positions), "two events share a position"
    head = positions[-1]

    for answer, (_, body) in zip(events, [*bodies, (COPIED_TICKET, copied)], strict=True):
        for base in servers:
            status, stored = await read(session, base, f"/v1/deliveries/{answer['deliveryId']}")
            assert (status, stored) == (200, body), (base, answer)

    # Wait for every projection before reading with minPosition, whose own wait is bounded.
    statuses = [await projections_at(session, base, head) for base in servers]
    assert statuses[0] == statuses[1]

    for ticket in [*range(1, TICKETS + 1), COPIED_TICKET]:
        expected = [answer["version"] for answer in events if answer["ticketId"] == ticket]
        assert sorted(expected) == list(range(1, len(expected) + 1)), (ticket, expected)
        path = f"/v1/tickets/{ticket}/history?minPosition={head}&limit=1000"
        histories = [await read(session, base, path) for base in servers]
        assert histories[0] == histories[1], ticket
        items = json.loads(histories[0][1])["items"]
        assert sorted(item["version"] for item in items) == sorted(expected), ticket

    reports = [await read_json(session, base, "/v1/audit/verify") for base in servers]
    assert reports[0]["ok"], reports[0]
    assert reports[0] == reports[1]
    assert reports[0]["head"]["position"] == head
    assert reports[0]["checked"] == len(events), "the log holds an event no sender was told of"

    assert all(projection["state"] == "live" for projection in statuses[0]), statuses[0]
    if DatabaseLocation.parse(database_url).kind == "postgres":
        # Each projection's leadership is one advisory lock: two would mean two writers.
        assert advisory_locks_held(database_url) == len(statuses[0])
    for path in (
        f"/v1/tickets?limit=1000&minPosition={head}",
        f"/v1/changes?format=ndjson&minPosition={head}",
    ):
        answers_by_server = [await read(session, base, path) for base in servers]
        assert answers_by_server[0][0] == 200, answers_by_server[0]
        assert answers_by_server[0] == answers_by_server[1], path
