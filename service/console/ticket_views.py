"""The ticket page: its state (now or as of a time), quantity, sale periods, and versions;
and the raw delivery behind a version."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

from aiohttp import web

from projections.history import queries as history_queries
from projections.quantity import queries as quantity_queries
from projections.read_model import epoch_micros
from projections.sale_periods import queries as sale_period_queries
from projections.store.views import ProjectionStore
from projections.tickets import queries as ticket_queries
from service.console.access import require
from service.console.decoding import plain
from service.console.gantt_chart import gantt
from service.console.pages import page, render
from service.console.problems import PageError
from service.console.quantity_chart import step_chart
from service.console.ticket_story import headline, place_versions
from service.domain import TicketChanged, ticket_uuid
from service.web.errors import not_found
from service.web.history_views import cursor_key
from service.web.keys import LOG, SETTINGS
from service.web.paging import Page, page_params
from service.web.reading import (
    in_reader,
    past_snapshots,
    path_int,
    projection_view,
    stale_mark,
    time_param,
)

VERSIONS_PER_PAGE = 100


@page
async def ticket_page(request: web.Request) -> web.Response:
    require(request, "read")
    ticket_id = path_int(request, "ticketId")
    at = time_param(request, "at", request.app[SETTINGS].zone)
    known_at = time_param(request, "knownAt")
    limit, cursor = page_params(request)
    after = cursor_key(cursor)
    tickets, history, quantity, periods = await asyncio.gather(
        projection_view(request, "tickets"),
        projection_view(request, "history"),
        projection_view(request, "quantity"),
        projection_view(request, "sale_periods"),
    )
    current, state, versions, points, timelines = await asyncio.gather(
        in_reader(request, lambda: ticket_queries.current_state(tickets, ticket_id)),
        _state(request, tickets, ticket_id, at, known_at),
        in_reader(
            request,
            lambda: history_queries.ticket_history(
                history,
                ticket_id,
                since_us=None,
                until_us=None,
                path=None,
                after=after,
                count=min(limit, VERSIONS_PER_PAGE) + 1,
            ),
        ),
        in_reader(request, lambda: quantity_queries.quantity_points(quantity, ticket_id)),
        in_reader(request, lambda: sale_period_queries.sale_period_timelines(periods, ticket_id)),
    )
    marks = await asyncio.gather(
        *(stale_mark(request, view, ticket_id) for view in (tickets, history, quantity, periods))
    )
    stale = [mark for mark in marks if mark is not None]
    if current is None:
        if stale:
            raise PageError(404, "Not found", _parked_note(stale[0]))
        raise not_found()
    listed = Page.of(versions or [], min(limit, VERSIONS_PER_PAGE), lambda e: {"after": list(e[0])})
    items = [plain(item) for _, item in listed.items]
    late = {item["version"] for item in items if item["late"]}
    as_of = None if at is None else at.isoformat()
    return render(
        request,
        "ticket.html",
        {
            "ticket_id": ticket_id,
            "current": current,
            "stale": stale,
            "state": state,
            "headline": headline(state["snapshot"])
            if state and isinstance(state["snapshot"], dict)
            else [],
            "at": at,
            "known_at": known_at,
            "versions": place_versions(items, at, known_at, state["version"] if state else None),
            "next_cursor": listed.next_cursor,
            "quantity": step_chart(points or [], late, as_of),
            "quantity_points": points or [],
            "gantt": gantt(timelines or []),
            "timelines": timelines or [],
            "zone": request.app[SETTINGS].zone,
            "utc": UTC,
        },
    )


def _parked_note(mark: dict[str, Any]) -> str:
    return (
        f"The {mark['projection']} read model could not apply this ticket's event at position "
        f"{mark['position']} ({mark['error']})."
    )


async def _state(
    request: web.Request,
    view: ProjectionStore,
    ticket_id: int,
    at: datetime | None,
    known_at: datetime | None,
) -> dict[str, Any] | None:
    """What `/v1/tickets/{id}` answers for the same `at` and `knownAt`."""
    if at is None and known_at is None:
        return await in_reader(request, lambda: ticket_queries.current_state(view, ticket_id))
    at_us = None if at is None else epoch_micros(at)
    known_us = None if known_at is None else epoch_micros(known_at)
    past = past_snapshots(request)
    return await in_reader(
        request, lambda: ticket_queries.state_as_of(view, past, ticket_id, at_us, known_us)
    )


@page
async def delivery_page(request: web.Request) -> web.Response:
    """The delivery that recorded a version: its body as received, and its API address."""
    require(request, "read")
    ticket_id = path_int(request, "ticketId")
    version = path_int(request, "version")
    event = await in_reader(request, lambda: _recorded_event(request, ticket_id, version))
    if event is None:
        raise not_found()
    return render(
        request,
        "delivery.html",
        {
            "ticket_id": ticket_id,
            "version": version,
            "delivery_id": event.delivery_id,
            "received_at": event.timestamp.isoformat(),
            "body": event.raw_body.decode("utf-8", errors="replace"),
        },
    )


def _recorded_event(request: web.Request, ticket_id: int, version: int) -> TicketChanged | None:
    if version < 1:
        return None
    stream: UUID = ticket_uuid(ticket_id)
    events = request.app[LOG].repository.event_store.get(stream, gt=version - 1, lte=version)
    return cast(TicketChanged | None, next(iter(events), None))
