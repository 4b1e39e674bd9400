"""`/v1/tickets...`: current state, point-in-time views, the list, and children."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from projections.tickets import queries as ticket_queries
from service.web.errors import bad_request, json_response
from service.web.keys import SETTINGS
from service.web.paging import Page, page_params
from service.web.parameters import takes
from service.web.reading import (
    BIGINT_RANGE,
    in_reader,
    int_param,
    marked,
    micros_param,
    not_found_marked,
    past_snapshots,
    path_int,
    projection_for_read,
    stale_mark,
)


@takes("at", "knownAt", "version", "minPosition", scope="read")
async def show_ticket(request: web.Request) -> web.Response:
    view = await projection_for_read(request, "tickets")
    ticket_id = path_int(request, "ticketId")
    version = int_param(request, "version")
    at = micros_param(request, "at", request.app[SETTINGS].zone)
    known_at = micros_param(request, "knownAt")
    if version is not None and (at is not None or known_at is not None):
        raise bad_request("version cannot be combined with at or knownAt")
    past = past_snapshots(request)
    if version is not None:
        state = await in_reader(
            request, lambda: ticket_queries.state_at_version(view, past, ticket_id, version)
        )
    elif at is not None or known_at is not None:
        state = await in_reader(
            request, lambda: ticket_queries.state_as_of(view, past, ticket_id, at, known_at)
        )
    else:
        state = await in_reader(request, lambda: ticket_queries.current_state(view, ticket_id))
    stale = await stale_mark(request, view, ticket_id)
    if state is None:
        raise not_found_marked(stale)
    return json_response(marked(state, stale))


@takes("eventId", "type", "parent", "limit", "cursor", "minPosition", scope="read")
async def list_tickets(request: web.Request) -> web.Response:
    view = await projection_for_read(request, "tickets")
    limit, after = page_after(request)
    event_id = int_param(request, "eventId")
    parent = int_param(request, "parent")
    ticket_type = request.query.get("type")
    rows = await in_reader(
        request,
        lambda: ticket_queries.list_current(
            view,
            event_id=event_id,
            ticket_type=ticket_type,
            parent=parent,
            after_ticket_id=after,
            limit=limit + 1,
        ),
    )
    return json_response(_page(rows, limit))


@takes("limit", "cursor", "minPosition", scope="read")
async def ticket_children(request: web.Request) -> web.Response:
    view = await projection_for_read(request, "tickets")
    ticket_id = path_int(request, "ticketId")
    limit, after = page_after(request)
    children = await in_reader(
        request,
        lambda: ticket_queries.children_of(view, ticket_id, after_ticket_id=after, limit=limit + 1),
    )
    stale = await stale_mark(request, view, ticket_id)
    if children is None:
        raise not_found_marked(stale)
    return json_response(marked(_page(children, limit), stale))


def page_after(request: web.Request) -> tuple[int, int | None]:
    """`limit`, and the ticket id a page of tickets (ordered by id) starts after."""
    limit, cursor = page_params(request)
    after = cursor.get("after")
    # type(), not isinstance(): JSON `true` decodes to a bool, which Python counts as an int.
    if after is not None and (type(after) is not int or after not in BIGINT_RANGE):
        raise bad_request("cursor is not one this service gave out")
    return limit, after


def _page(rows: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    page = Page.of(rows, limit, lambda last: {"after": last["ticketId"]})
    return page.as_json(list(page.items))
