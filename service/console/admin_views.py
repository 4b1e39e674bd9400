"""Admin pages: the quarantine, the projections with their rebuilds, and verifying the chain."""

from __future__ import annotations

from aiohttp import web

from service.console.access import check_csrf, require
from service.console.health import projection_status
from service.console.pages import page, render
from service.web.admin_views import quarantine_page, quarantined, verify_chain
from service.web.errors import not_found
from service.web.projection_views import start_rebuild


@page
async def quarantine_list(request: web.Request) -> web.Response:
    require(request, "admin")
    listed = await quarantine_page(request)
    items = [item.summary_json() for item in listed.items]
    return render(request, "quarantine.html", {"items": items, "next_cursor": listed.next_cursor})


@page
async def quarantine_item(request: web.Request) -> web.Response:
    require(request, "admin")
    item = await quarantined(request)
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
