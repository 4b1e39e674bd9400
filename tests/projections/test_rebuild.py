"""Rebuilding the tickets read model: offline by the CLI, live while serving, after a crash."""

from __future__ import annotations

import asyncio
import json
import os
import random
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from projections.catalog import CATALOG
from projections.read_model import LoggedChange, PastSnapshots, epoch_micros
from projections.runtime import applier
from projections.runtime.answering import open_projection
from projections.runtime.feed import ProjectionFeed
from projections.store.generations import ProjectionStores
from projections.store.views import Cursor, ProjectionStore
from projections.tickets import queries as ticket_queries
from projections.tickets.projection import TicketsProjection
from service.web import reading
from service.web.keys import PROJECTIONS, REBUILDS
from tests.helpers import Serve, make_settings, run_cli
from tests.projections.faults import FAILS_ONCE_IN
from tests.projections.helpers import (
    LATE,
    MIDDLE,
    TicketApi,
    generation_exists,
    opened,
    seed_history,
    snapshot_answers,
)

LIST_ALL = "/v1/tickets {'limit': 1000}"
SEEDED_TICKETS = 60
VERSIONS_EACH = 5
# Enough polls for a rebuild of a few hundred events; each poll is a few real requests.
MAX_POLLS = 2000
CONCURRENT_READS = 30
GATE_TIMEOUT_SECONDS = 60
ROOT = Path(__file__).resolve().parents[2]
# With the fault site first on it, a process's read models may have a fault put in.
FAULT_SITE_PATH = os.pathsep.join([str(ROOT / "tests" / "service" / "fault_site"), str(ROOT)])


def active_generation(database_url: str) -> int | None:
    with opened(database_url) as (_, storage):
        return storage.active_generation(TicketsProjection.name)


async def test_cli_rebuild_answers_byte_for_byte_as_before(
    serve: Serve, database_url: str, fixture_bodies: dict[str, bytes]
) -> None:
    settings = make_settings(database_url)
    api = TicketApi(await serve(settings))
    ticket_ids = await seed_history(api, fixture_bodies)
    before = await snapshot_answers(api, ticket_ids)
    await api.client.close()

    result = await asyncio.to_thread(run_cli, "rebuild", database_url=database_url)

    assert result.returncode == 0, result.stderr
    assert f"tickets: rebuilt from {api.head} events" in result.stdout
    assert active_generation(database_url) == 2
    rebuilt = TicketApi(await serve(settings))
    rebuilt.head = api.head
    assert await snapshot_answers(rebuilt, ticket_ids) == before


async def test_cli_rebuild_refuses_an_unknown_projection(database_url: str) -> None:
    result = await asyncio.to_thread(run_cli, "rebuild", "nope", database_url=database_url)
    assert result.returncode == 2
    assert "unknown projection nope" in result.stderr


async def seed_many(api: TicketApi) -> list[int]:
    """A few hundred deliveries, posted concurrently, some arriving after newer ones."""
    chooser = random.Random(346868)
    bodies = [
        (ticket_id, f"2024-05-{chooser.randint(10, 20)}T{chooser.randint(0, 23):02}:00:00", step)
        for step in range(VERSIONS_EACH)
        for ticket_id in range(1, SEEDED_TICKETS + 1)
    ]
    for start in range(0, len(bodies), 50):
        await asyncio.gather(
            *(
                api.deliver(ticket_id, timestamp, eventId=ticket_id % 3, quantity=step)
                for ticket_id, timestamp, step in bodies[start : start + 50]
            )
        )
    return list(range(1, SEEDED_TICKETS + 1))


def answer(answers: dict[str, bytes], key: str) -> bytes:
    """The body of a kept answer, without the status in front of it."""
    return answers[key].partition(b" ")[2]


def without(page: bytes, ticket_ids: Sequence[int]) -> list[Any]:
    items: list[Any] = json.loads(page)["items"]
    return [item for item in items if item["ticketId"] not in ticket_ids]


async def assert_reads_unchanged(api: TicketApi, before: dict[str, bytes]) -> None:
    """Many reads at once, so that some are in flight when readers switch generations."""
    ticket_ids = range(1, CONCURRENT_READS + 1)
    reads = await asyncio.gather(
        *(api.raw(f"/v1/tickets/{ticket_id}") for ticket_id in ticket_ids),
        *(api.raw("/v1/tickets", {"limit": 1000}) for _ in ticket_ids),
    )
    for ticket_id, read in zip(ticket_ids, reads[:CONCURRENT_READS], strict=True):
        assert read == (200, answer(before, f"/v1/tickets/{ticket_id} {{}}"))
    seeded = json.loads(answer(before, LIST_ALL))["items"]
    for status, page in reads[CONCURRENT_READS:]:
        assert status == 200, page
        listed = json.loads(page)["items"]
        assert [item for item in listed if item["ticketId"] <= SEEDED_TICKETS] == seeded


def gated_follower(gate: threading.Event) -> type[ProjectionFeed]:
    class GatedFollower(ProjectionFeed):
        """A rebuild's follower that starts catching up once the test has read beside it."""

        def catch_up(self, on_batch: Callable[[int], None] = lambda count: None) -> int:
            assert gate.wait(GATE_TIMEOUT_SECONDS), "the test never opened the gate"
            return super().catch_up(on_batch)

    return GatedFollower


async def test_live_rebuild_keeps_answering_then_switches(
    serve: Serve, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = TicketApi(await serve(make_settings(database_url)))
    ticket_ids = await seed_many(api)
    before = await snapshot_answers(api, ticket_ids)
    assert len(json.loads(answer(before, LIST_ALL))["items"]) == SEEDED_TICKETS
    gate = threading.Event()
    monkeypatch.setattr(applier, "ProjectionFeed", gated_follower(gate))

    # A query that takes the answering generation just before the switch runs on it after,
    # however long it takes: the replaced generation stays until it is released.
    taken_before_switch, release = api.client.app[PROJECTIONS].take_for_reading("tickets")
    response = await api.client.post("/v1/projections/tickets/rebuild")
    assert (response.status, await response.json()) == (
        202,
        {"name": "tickets", "state": "rebuilding"},
    )
    written_meanwhile: list[int] = []
    states: list[str] = []
    for poll in range(MAX_POLLS):
        await assert_reads_unchanged(api, before)
        new_ticket = 10_000 + poll
        await api.deliver(new_ticket, "2024-06-01T00:00:00", quantity=poll)
        written_meanwhile.append(new_ticket)
        assert (await api.ticket(new_ticket))["snapshot"]["quantity"] == poll
        (tickets,) = [p for p in await api.read("/v1/projections") if p["name"] == "tickets"]
        states.append(tickets["state"])
        if tickets["state"] == "rebuilding":
            gate.set()  # these reads ran beside the rebuild; now let it build and switch
        elif tickets["state"] == "failed" or gate.is_set():
            break
    assert states[-1] == "live", f"{states[-1]} after {MAX_POLLS} polls"
    assert "failed" not in states

    assert active_generation(database_url) == 2
    late_query = await asyncio.to_thread(ticket_queries.current_state, taken_before_switch, 1)
    assert late_query is not None
    assert late_query["ticketId"] == 1
    after = await snapshot_answers(api, ticket_ids)
    assert {k: v for k, v in after.items() if k != LIST_ALL} == {
        k: v for k, v in before.items() if k != LIST_ALL
    }
    assert without(answer(after, LIST_ALL), written_meanwhile) == without(
        answer(before, LIST_ALL), []
    )
    for new_ticket in written_meanwhile:
        assert (await api.ticket(new_ticket))["version"] == 1
    assert generation_exists(database_url, 1)
    assert await asyncio.to_thread(ticket_queries.current_state, taken_before_switch, 1)
    # Its last reader done, the replaced generation goes.
    release()
    for _ in range(MAX_POLLS):
        if not generation_exists(database_url, 1):
            break
        await api.read("/v1/projections")
    assert not generation_exists(database_url, 1)
    assert generation_exists(database_url, 2)


async def test_stopping_the_service_drops_a_replaced_generation_still_being_read(
    serve: Serve, database_url: str
) -> None:
    api = TicketApi(await serve(make_settings(database_url)))
    await api.deliver(1, "2024-06-01T00:00:00", quantity=1)
    _, release = api.client.app[PROJECTIONS].take_for_reading("tickets")
    response = await api.client.post("/v1/projections/tickets/rebuild")
    assert response.status == 202
    for _ in range(MAX_POLLS):
        if active_generation(database_url) == 2:
            break
        await api.read("/v1/projections")
    assert active_generation(database_url) == 2
    assert generation_exists(database_url, 1)
    # The queries end with the service, so it does not leave the generation behind.
    await api.client.close()
    release()
    assert not generation_exists(database_url, 1)
    assert generation_exists(database_url, 2)


def read_model(
    view: ProjectionStore, past: PastSnapshots, ticket_ids: Sequence[int]
) -> dict[str, Any]:
    """Every query the read model answers, for comparing two generations."""
    answers: dict[str, Any] = {
        "list": ticket_queries.list_current(
            view, event_id=None, ticket_type=None, parent=None, after_ticket_id=None, limit=10_000
        )
    }
    nine = datetime(2024, 5, 17, 9, tzinfo=UTC)
    moments = [epoch_micros(nine + timedelta(minutes=30 * n)) for n in range(14)]
    for ticket_id in ticket_ids:
        answers[f"{ticket_id} now"] = ticket_queries.current_state(view, ticket_id)
        answers[f"{ticket_id} children"] = ticket_queries.children_of(
            view, ticket_id, after_ticket_id=None, limit=1000
        )
        for version in range(1, 6):
            state = ticket_queries.state_at_version(view, past, ticket_id, version)
            answers[f"{ticket_id} v{version}"] = state
        for at in moments:
            answers[f"{ticket_id} at {at}"] = ticket_queries.state_as_of(
                view, past, ticket_id, at, None
            )
    return answers


class Crash(BaseException):
    """Raised half-way through applying a batch, after some rows were written: the process
    ending there, which no handler catches (an exception would park the batch's events)."""


async def test_a_crash_mid_rebuild_resumes_to_the_same_read_model(
    serve: Serve,
    database_url: str,
    fixture_bodies: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = TicketApi(await serve(make_settings(database_url)))
    ticket_ids = await seed_history(api, fixture_bodies)
    await api.client.close()

    with opened(database_url) as (log, storage):
        interrupted = open_projection(storage, TicketsProjection, 7)
        follower = ProjectionFeed(interrupted, log, batch_size=2)
        while follower.position < api.head // 2:
            follower.step()
        applied = follower.position

        apply = interrupted.apply

        def apply_then_crash(cursor: Cursor, changes: Sequence[LoggedChange]) -> None:
            apply(cursor, changes)
            raise Crash

        monkeypatch.setattr(interrupted, "apply", apply_then_crash)
        with pytest.raises(Crash):
            follower.step()
        assert interrupted.view.tracked_position() == applied
        interrupted.view.close()

    with opened(database_url) as (log, storage):
        resumed = open_projection(storage, TicketsProjection, 7)
        assert ProjectionFeed(resumed, log).catch_up() == api.head - applied
        clean = open_projection(storage, TicketsProjection, 8)
        assert ProjectionFeed(clean, log).catch_up() == api.head
        assert read_model(resumed.view, resumed.past, ticket_ids) == read_model(
            clean.view, clean.past, ticket_ids
        )
        for view in (resumed.view, clean.view):
            view.close()


async def start_rebuild(api: TicketApi) -> asyncio.Task[None]:
    """POST a rebuild, and the task that carries it out, to await its end."""
    response = await api.client.post("/v1/projections/tickets/rebuild")
    assert response.status == 202
    (task,) = api.client.app[REBUILDS]
    return task


async def test_a_failed_live_rebuild_leaves_the_old_generation_following(
    serve: Serve, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reading, "MIN_POSITION_WAIT_SECONDS", 1.0)
    api = TicketApi(await serve(make_settings(database_url)))
    await api.deliver(7, MIDDLE, quantity=1)
    await api.ticket(7)

    def registry_unavailable(storage: ProjectionStores, name: str, generation: int) -> None:
        raise RuntimeError("registry unavailable")

    with monkeypatch.context() as patched:
        # Fails once the new generation has caught up, as readers were about to switch to it.
        patched.setattr(ProjectionStores, "activate", registry_unavailable)
        failing = await start_rebuild(api)
        with pytest.raises(RuntimeError, match="registry unavailable"):
            await failing

    await api.deliver(7, LATE, quantity=2)
    assert (await api.ticket(7))["version"] == 2
    assert active_generation(database_url) == 1

    await (await start_rebuild(api))
    assert active_generation(database_url) == 2
    assert (await api.ticket(7))["version"] == 2


async def test_cli_rebuild_activates_nothing_when_one_of_its_processes_fails(
    serve: Serve, database_url: str, fixture_bodies: dict[str, bytes]
) -> None:
    settings = make_settings(database_url)
    api = TicketApi(await serve(settings))
    ticket_ids = await seed_history(api, fixture_bodies)
    # The process rebuilding tickets (with quantity and sale periods) fails at this event;
    # the one rebuilding history does not.
    await api.deliver(7, LATE, **{FAILS_ONCE_IN: ["tickets"]})
    before = await snapshot_answers(api, [*ticket_ids, 7])
    await api.client.close()
    with opened(database_url) as (_, storage):
        active = {name: storage.active_generation(name) for name in CATALOG}

    # Every process the CLI starts has its tickets read model fail at the marked events.
    failed = await asyncio.to_thread(
        lambda: run_cli(
            "rebuild",
            database_url=database_url,
            PYTHONPATH=FAULT_SITE_PATH,
            TEST_FLAKY_READ_MODELS="tickets",
        )
    )

    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr
    assert "rebuild failed: tickets, quantity, sale_periods: OperationalError" in failed.stderr
    assert "the active read models are unchanged" in failed.stderr
    with opened(database_url) as (_, storage):
        assert {name: storage.active_generation(name) for name in CATALOG} == active
    for name, generation in active.items():
        assert generation is not None
        assert generation_exists(database_url, generation, name)
        assert not generation_exists(database_url, generation + 1, name)
    still = TicketApi(await serve(settings))
    still.head = api.head
    assert await snapshot_answers(still, [*ticket_ids, 7]) == before
