"""The event page: an Ingresse event's tickets with their current figures, and the hierarchy."""

from __future__ import annotations

import functools
from typing import Any

from aiohttp import web

from projections.tickets import queries as ticket_queries
from service.console.access import require
from service.console.hierarchy import tree
from service.console.pages import page, render
from service.web.errors import not_found
from service.web.paging import MAX_LIMIT, Page
from service.web.reading import in_reader, path_int, projection_view
from service.web.ticket_views import page_after

# Past this many groups in a page, the tree is left out rather than asked for group by group.
TREE_GROUPS = 50
# A group's first children by id: as many as one page of `/v1/tickets/{id}/children` holds.
CHILDREN_SHOWN = MAX_LIMIT


@page
async def event_page(request: web.Request) -> web.Response:
    require(request, "read")
    event_id = path_int(request, "eventId")
    limit, after = page_after(request)
    view = await projection_view(request, "tickets")
    rows = await in_reader(
        request,
        lambda: ticket_queries.list_current(
            view,
            event_id=event_id,
            ticket_type=None,
            parent=None,
            after_ticket_id=after,
            limit=limit + 1,
        ),
    )
    if not rows and after is None:
        raise not_found()
    listed = Page.of(rows, limit, lambda last: {"after": last["ticketId"]})
    groups = [t["ticketId"] for t in listed.items if t["type"] == "Group"]
    children: dict[int, list[dict[str, Any]]] = {}
    if len(groups) <= TREE_GROUPS:
        for group in groups:
            named = await in_reader(
                request,
                functools.partial(
                    ticket_queries.children_of,
                    view,
                    group,
                    after_ticket_id=None,
                    limit=CHILDREN_SHOWN,
                ),
            )
            children[group] = named or []
    ids = [t["ticketId"] for t in listed.items]
    snapshots = await in_reader(request, lambda: ticket_queries.current_snapshots(view, ids))
    return render(
        request,
        "event.html",
        {
            "event_id": event_id,
            "tickets": listed.items,
            "next_cursor": listed.next_cursor,
            "tree": tree(listed.items, children) if len(groups) <= TREE_GROUPS else None,
            "groups": len(groups),
            "prices": {ticket_id: _price(snapshot) for ticket_id, snapshot in snapshots.items()},
        },
    )


def _price(snapshot: Any) -> Any:
    """`value.price` of a snapshot, None when it has none."""
    value = snapshot.get("value") if isinstance(snapshot, dict) else None
    return value.get("price") if isinstance(value, dict) else None
