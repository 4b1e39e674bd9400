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
from service.web.openapi import PAGE_ROUTE_PREFIX

STATIC = Path(__file__).resolve().parent / "static"


# Every console route is named with this prefix: pages, left out of `/openapi.json`.
PREFIX = PAGE_ROUTE_PREFIX


def setup_console_routes(app: web.Application) -> None:
    pages = [
        ("GET", "/", home_views.home, "home"),
        ("GET", "/find", home_views.find, "find"),
        ("GET", "/events/{eventId}", event_views.event_page, "event"),
        ("GET", "/tickets/{ticketId}", ticket_views.ticket_page, "ticket"),
        (
            "GET",
            "/tickets/{ticketId}/versions/{version}/delivery",
            ticket_views.delivery_page,
            "delivery",
        ),
        ("GET", "/changes", change_views.changes_page, "changes"),
        ("GET", "/changes.csv", change_views.changes_csv, "changes-csv"),
        ("GET", "/changes.ndjson", change_views.changes_ndjson, "changes-ndjson"),
        ("GET", "/login", login_views.login_form, "login-form"),
        ("POST", "/login", login_views.login, "login"),
        ("POST", "/logout", login_views.logout, "logout"),
        ("GET", "/admin/quarantine", admin_views.quarantine_list, "quarantine"),
        ("GET", "/admin/quarantine/{id}", admin_views.quarantine_item, "quarantined"),
        ("GET", "/admin/projections", admin_views.projections_page, "projections"),
        ("POST", "/admin/projections/{name}/rebuild", admin_views.rebuild, "rebuild"),
        ("POST", "/admin/verify", admin_views.verify_now, "verify"),
    ]
    for method, path, view, name in pages:
        app.router.add_route(method, path, view, name=PREFIX + name)
    app.router.add_static("/static/", STATIC, name=PREFIX + "static")
