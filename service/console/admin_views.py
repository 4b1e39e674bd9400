"""Admin pages: the quarantine, the projections with their rebuilds, and verifying the chain."""

from __future__ import annotations

import asyncio

from aiohttp import web

from service.console.access import check_csrf, require
from service.console.health import projection_status
from service.console.pages import page, render
from service.web.admin_views import verify_chain
from service.web.errors import bad_request, not_found
from service.web.keys import QUARANTINE, READERS
from service.web.paging import Page, page_params
from service.web.projection_views import start_rebuild
from service.web.reading import BIGINT_RANGE


@page
async def quarantine_page(request: web.Request) -> web.Response:
    require(request, "admin")
    limit, cursor = page_params(request)
    before = cursor.get("before")
    if before is not None and (not isinstance(before, int) or isinstance(before, bool)):
        raise bad_request("cursor is not one this service gave out")
    store = request.app[QUARANTINE]
    items = await asyncio.get_running_loop().run_in_executor(
        request.app[READERS], lambda: store.page(limit + 1, before)
    )
    listed = Page.of(items, limit, lambda last: {"before": last.id})
    return render(
        request,
        "quarantine.html",
        {
            "items": [item.summary_json() for item in listed.items],
            "next_cursor": listed.next_cursor,
        },
    )


@page
async def quarantined_page(request: web.Request) -> web.Response:
    require(request, "admin")
    try:
        quarantine_id = int(request.match_info["id"])
    except ValueError:
        raise not_found() from None
    if quarantine_id not in BIGINT_RANGE:
        raise not_found()
    store = request.app[QUARANTINE]
    item = await asyncio.get_running_loop().run_in_executor(
        request.app[READERS], store.get, quarantine_id
    )
    if item is None:
        raise not_found()
    return render(request, "quarantined.html", {"item": item.full_json()})


@page
async def projections_page(request: web.Request) -> web.Response:
    require(request, "admin")
    status = await projection_status(request.app)
    return render(
        request,
        "projections.html",
        {
            "projections": status,
            "rebuilding": any(p["state"] == "rebuilding" for p in status),
        },
    )


@page
async def rebuild(request: web.Request) -> web.Response:
    require(request, "admin")
    await check_csrf(request)
    if not start_rebuild(request.app, request.match_info["name"]):
        raise not_found()
    raise web.HTTPSeeOther("/admin/projections")


@page
async def verify_now(request: web.Request) -> web.Response:
    require(request, "admin")
    await check_csrf(request)
    await verify_chain(request.app)
    raise web.HTTPSeeOther("/#health")
