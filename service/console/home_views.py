"""The home page (find a ticket, events, latest changes, health) and the ticket finder."""

from __future__ import annotations

from aiohttp import web

from projections.history import queries as history_queries
from projections.tickets import queries as ticket_queries
from service.console.access import require
from service.console.decoding import plain
from service.console.health import health
from service.console.pages import page, render
from service.web.reading import BIGINT_RANGE, in_reader, projection_view

EVENTS_SHOWN = 200
LATEST_CHANGES = 20
FOUND_SHOWN = 100


@page
async def home(request: web.Request) -> web.Response:
    require(request, "read")
    tickets = await projection_view(request, "tickets")
    history = await projection_view(request, "history")
    events = await in_reader(
        request, lambda: ticket_queries.event_ticket_counts(tickets, EVENTS_SHOWN + 1)
    )
    latest = await in_reader(
        request, lambda: history_queries.latest_changes(history, LATEST_CHANGES)
    )
    return render(
        request,
        "home.html",
        {
            "events": events[:EVENTS_SHOWN],
            "more_events": len(events) > EVENTS_SHOWN,
            "latest": [plain(change) for change in latest],
            "health": await health(request.app),
        },
    )


@page
async def find(request: web.Request) -> web.StreamResponse:
    """A ticket id goes straight to its page; other text looks for it in ticket names."""
    require(request, "read")
    wanted = request.query.get("q", "").strip()
    tickets = await projection_view(request, "tickets")
    if wanted.isdigit() and int(wanted) in BIGINT_RANGE:
        ticket_id = int(wanted)
        state = await in_reader(request, lambda: ticket_queries.current_state(tickets, ticket_id))
        if state is not None:
            raise web.HTTPSeeOther(f"/tickets/{ticket_id}")
    found = (
        await in_reader(request, lambda: ticket_queries.find_by_name(tickets, wanted, FOUND_SHOWN))
        if wanted
        else []
    )
    return render(request, "find.html", {"q": wanted, "found": found, "limit": FOUND_SHOWN})
