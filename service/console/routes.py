"""Every page of the console, in one table."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from service.console import (
    admin_views,
    change_views,
    event_views,
    home_views,
    login_views,
    ticket_views,
)

STATIC = Path(__file__).resolve().parent / "static"


def setup_console_routes(app: web.Application) -> None:
    app.router.add_get("/", home_views.home)
    app.router.add_get("/find", home_views.find)
    app.router.add_get("/events/{eventId}", event_views.event_page)
    app.router.add_get("/tickets/{ticketId}", ticket_views.ticket_page)
    app.router.add_get(
        "/tickets/{ticketId}/versions/{version}/delivery", ticket_views.delivery_page
    )
    app.router.add_get("/changes", change_views.changes_page)
    app.router.add_get("/changes.csv", change_views.changes_csv)
    app.router.add_get("/changes.ndjson", change_views.changes_ndjson)
    app.router.add_get("/login", login_views.login_form)
    app.router.add_post("/login", login_views.login)
    app.router.add_post("/logout", login_views.logout)
    app.router.add_get("/admin/quarantine", admin_views.quarantine_list)
    app.router.add_get("/admin/quarantine/{id}", admin_views.quarantine_item)
    app.router.add_get("/admin/projections", admin_views.projections_page)
    app.router.add_post("/admin/projections/{name}/rebuild", admin_views.rebuild)
    app.router.add_post("/admin/verify", admin_views.verify_now)
    app.router.add_static("/static/", STATIC, name="static")
