"""`/v1/tickets/{ticketId}/quantity` and `/sale-periods`: how a ticket changed over time."""

from __future__ import annotations

from aiohttp import web

from projections.quantity import queries as quantity_queries
from projections.sale_periods import queries as sale_period_queries
from service.web.errors import json_response
from service.web.parameters import takes
from service.web.reading import (
    in_reader,
    marked,
    not_found_marked,
    path_int,
    projection_for_read,
    stale_mark,
)


@takes("minPosition", scope="read")
async def ticket_quantity(request: web.Request) -> web.Response:
    view = await projection_for_read(request, "quantity")
    ticket_id = path_int(request, "ticketId")
    points = await in_reader(request, lambda: quantity_queries.quantity_points(view, ticket_id))
    stale = await stale_mark(request, view, ticket_id)
    if points is None:
        raise not_found_marked(stale)
    return json_response(marked({"ticketId": ticket_id, "points": points}, stale))


@takes("minPosition", scope="read")
async def ticket_sale_periods(request: web.Request) -> web.Response:
    view = await projection_for_read(request, "sale_periods")
    ticket_id = path_int(request, "ticketId")
    timelines = await in_reader(
        request, lambda: sale_period_queries.sale_period_timelines(view, ticket_id)
    )
    stale = await stale_mark(request, view, ticket_id)
    if timelines is None:
        raise not_found_marked(stale)
    return json_response(marked({"ticketId": ticket_id, "salePeriods": timelines}, stale))
