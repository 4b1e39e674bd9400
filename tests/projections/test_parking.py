"""A read model that cannot apply an event parks it and keeps following the log; the ticket's
answers say they are stale until a rebuild after the fix clears the parked event.

The faults are test read models put in the catalog before the app starts (`faults.py`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from projections.catalog import CATALOG
from projections.runtime.answering import open_projection
from projections.runtime.feed import ProjectionFeed
from projections.tickets import queries as ticket_queries
from projections.tickets.projection import TicketsProjection
from service.web.keys import REBUILDS
from tests.helpers import Serve, make_settings, run_cli
from tests.projections.faults import (
    FAILS_ONCE_IN,
    REFUSED_BY,
    REFUSING,
    FlakyTickets,
)
from tests.projections.helpers import EARLY, LATE, MIDDLE, TicketApi, opened
from tests.projections.unit.helpers import as_json
from tests.service.test_openapi import documented

# Enough polls for the applier to retry after a storage failure.
STATE_POLLS = 400


async def projections_status(api: TicketApi) -> dict[str, dict[str, Any]]:
    response = await api.client.get("/v1/projections")
    status = await documented(response, "/v1/projections")
    return {projection["name"]: projection for projection in status}


async def rebuild(api: TicketApi, name: str) -> None:
    """A live rebuild of `name`, to its end."""
    response = await api.client.post(f"/v1/projections/{name}/rebuild")
    assert response.status == 202
    (task,) = api.client.app[REBUILDS]
    await task


def clean_build(database_url: str, ticket_id: int, version: int) -> tuple[Any, Any]:
    """The ticket's current state and `version` as a tickets projection built from the whole
    log without a fault answers them."""
    with opened(database_url) as (log, storage):
        clean = open_projection(storage, TicketsProjection, 99)
        try:
            ProjectionFeed(clean, log).catch_up()
            return (
                as_json(ticket_queries.current_state(clean.view, ticket_id)),
                as_json(
                    ticket_queries.state_at_version(clean.view, clean.past, ticket_id, version)
                ),
            )
        finally:
            clean.drop_tables()
            clean.view.close()


async def test_an_event_the_tickets_model_cannot_apply_is_parked_and_its_ticket_answers_stale(
    serve: Serve,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setitem(CATALOG, "tickets", REFUSING["tickets"])
    api = TicketApi(await serve(make_settings(database_url)))
    refuse = {REFUSED_BY: ["tickets"]}
    with caplog.at_level(logging.ERROR, logger="projections.runtime.feed"):
        await api.deliver(5001, EARLY, quantity=1)
        refused = await api.deliver(5001, MIDDLE, quantity=2, **refuse)
        await api.deliver(5002, MIDDLE, quantity=7)
        await api.deliver(5001, LATE, quantity=3)
        only = await api.deliver(5003, EARLY, quantity=9, **refuse)
        stale = {
            "projection": "tickets",
            "position": refused.position,
            "error": f"ValueError: tickets refuses the event at position {refused.position}",
        }

        # Later deliveries of the same ticket and of others were applied.
        current = await api.ticket(5001)
        assert (current["version"], current["snapshot"]["quantity"]) == (3, 3)
        assert current["stale"] == stale
        assert "stale" not in await api.ticket(5002)
        missing = await api.client.get("/v1/tickets/5001", params={"version": 2})
        assert missing.status == 404
        assert await documented(missing, "/v1/tickets/{ticketId}") == {
            "error": "not_found",
            "stale": stale,
        }
        assert (await api.read("/v1/tickets/5001/children"))["stale"] == stale
        assert (await api.read("/v1/tickets/5003", status=404))["stale"]["position"] == (
            only.position
        )
        # The other read models applied the event.
        history = await api.read("/v1/tickets/5001/history")
        assert [item["version"] for item in history["items"]] == [1, 2, 3]
        assert "stale" not in history
    assert [
        message for message in caplog.messages if "parked" in message and "ticket 5001" in message
    ] == [
        f"projection tickets parked the event at position {refused.position} (ticket 5001): "
        f"{stale['error']}"
    ]

    status = await projections_status(api)
    assert status["tickets"] | {"head": None} == {
        "name": "tickets",
        "position": api.head,
        "head": None,
        "lag": 0,
        "parked": 2,
        "state": "live",
    }
    assert {name: projection["parked"] for name, projection in status.items()} == {
        "tickets": 2,
        "history": 0,
        "quantity": 0,
        "sale_periods": 0,
    }
    metrics = await (await api.client.get("/metrics")).text()
    assert 'ticket_audit_projection_parked{projection="tickets"} 2.0' in metrics
    assert 'ticket_audit_projection_parked{projection="history"} 0.0' in metrics
    ready = await api.client.get("/readyz")
    assert ready.status == 200, await ready.text()

    monkeypatch.setitem(CATALOG, "tickets", TicketsProjection)
    await rebuild(api, "tickets")

    assert (await projections_status(api))["tickets"]["parked"] == 0
    metrics = await (await api.client.get("/metrics")).text()
    assert 'ticket_audit_projection_parked{projection="tickets"} 0.0' in metrics
    rebuilt = await api.ticket(5001)
    at_version = await api.ticket(5001, version=2)
    assert "stale" not in (await api.read("/v1/tickets/5001/children"))
    assert (await api.ticket(5003))["snapshot"]["quantity"] == 9
    assert (rebuilt, at_version) == await asyncio.to_thread(clean_build, database_url, 5001, 2)


ROUTES = {
    "tickets": ["/v1/tickets/{ticketId}", "/v1/tickets/{ticketId}/children"],
    "history": ["/v1/tickets/{ticketId}/history"],
    "quantity": ["/v1/tickets/{ticketId}/quantity"],
    "sale_periods": ["/v1/tickets/{ticketId}/sale-periods"],
}


async def test_every_answer_about_the_ticket_names_the_read_model_that_parked_its_event(
    serve: Serve, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, refusing in REFUSING.items():
        monkeypatch.setitem(CATALOG, name, refusing)
    api = TicketApi(await serve(make_settings(database_url)))
    period = {"id": 70127, "start": "2024-05-01T10:00:00"}
    await api.deliver(6001, EARLY, quantity=1, salePeriods=[period])
    refused = await api.deliver(6001, MIDDLE, quantity=2, **{REFUSED_BY: list(ROUTES)})
    await api.deliver(6002, MIDDLE, quantity=5, salePeriods=[period])

    for name, routes in ROUTES.items():
        for route in routes:
            response = await api.client.get(
                route.format(ticketId=6001), params={"minPosition": api.head}
            )
            answer = await documented(response, route)
            assert response.status == 200, answer
            assert answer["stale"] == {
                "projection": name,
                "position": refused.position,
                "error": f"ValueError: {name} refuses the event at position {refused.position}",
            }
            clean = await api.client.get(route.format(ticketId=6002))
            assert "stale" not in await documented(clean, route)
    status = await projections_status(api)
    assert {name: projection["parked"] for name, projection in status.items()} == dict.fromkeys(
        ROUTES, 1
    )


async def test_a_storage_failure_while_applying_is_retried_not_parked(
    serve: Serve, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(CATALOG, "tickets", FlakyTickets)
    monkeypatch.setattr(FlakyTickets, "failed_at", set())
    api = TicketApi(await serve(make_settings(database_url)))
    flaky = await api.deliver(5101, EARLY, quantity=1, **{FAILS_ONCE_IN: ["tickets"]})

    # The failed state lasts only until the retry, which a commit notification may bring at
    # once: wait for the failure itself.
    for _ in range(STATE_POLLS):
        if FlakyTickets.failed_at:
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("the storage failure never showed")
    assert FlakyTickets.failed_at == {flaky.position}
    await api.deliver(5102, EARLY, quantity=2)  # wakes the applier rather than await its backoff

    assert (await api.ticket(5101))["snapshot"]["quantity"] == 1
    assert "stale" not in await api.ticket(5101)
    tickets = (await projections_status(api))["tickets"]
    assert (tickets["parked"], tickets["state"]) == (0, "live")


async def test_the_rebuild_command_after_the_fix_clears_the_parked_events(
    serve: Serve, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(CATALOG, "tickets", REFUSING["tickets"])
    api = TicketApi(await serve(make_settings(database_url)))
    refused = await api.deliver(5301, EARLY, quantity=1, **{REFUSED_BY: ["tickets"]})
    assert (await api.read("/v1/tickets/5301", status=404))["stale"]["position"] == (
        refused.position
    )
    await api.client.close()

    # The command runs in a process of its own, where the read model has no fault.
    result = await asyncio.to_thread(run_cli, "rebuild", "tickets", database_url=database_url)
    assert result.returncode == 0, result.stderr
    monkeypatch.setitem(CATALOG, "tickets", TicketsProjection)
    api = TicketApi(await serve(make_settings(database_url)))
    api.head = refused.position
    fixed = await api.ticket(5301)
    assert fixed["snapshot"]["quantity"] == 1
    assert "stale" not in fixed
    assert (await projections_status(api))["tickets"]["parked"] == 0
