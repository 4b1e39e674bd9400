"""Every route of the service, in one table."""

from __future__ import annotations

from aiohttp import web

from service.web import (
    admin_views,
    delivery_view,
    docs_view,
    history_views,
    intake_view,
    ops_views,
    projection_views,
    ticket_views,
    timeline_views,
)


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/webhooks/ingresse", intake_view.receive_delivery)
    app.router.add_get("/v1/tickets", ticket_views.list_tickets)
    app.router.add_get("/v1/tickets/{ticketId}", ticket_views.show_ticket)
    app.router.add_get("/v1/tickets/{ticketId}/children", ticket_views.ticket_children)
    app.router.add_get("/v1/tickets/{ticketId}/history", history_views.ticket_history)
    app.router.add_get("/v1/changes", history_views.change_feed)
    app.router.add_get("/v1/tickets/{ticketId}/quantity", timeline_views.ticket_quantity)
    app.router.add_get("/v1/tickets/{ticketId}/sale-periods", timeline_views.ticket_sale_periods)
    app.router.add_get("/v1/deliveries/{deliveryId}", delivery_view.show_delivery)
    app.router.add_get("/v1/projections", projection_views.list_projections)
    app.router.add_post("/v1/projections/{name}/rebuild", projection_views.rebuild_projection)
    app.router.add_get("/v1/audit/verify", admin_views.verify_log)
    app.router.add_get("/v1/audit/checkpoint", admin_views.checkpoint)
    app.router.add_get("/v1/quarantine", admin_views.list_quarantine)
    app.router.add_get("/v1/quarantine/{id}", admin_views.show_quarantined)
    app.router.add_get("/healthz", ops_views.healthz)
    app.router.add_get("/readyz", ops_views.readyz)
    app.router.add_get("/metrics", ops_views.metrics)
    app.router.add_get("/openapi.json", docs_view.openapi_document)
    app.router.add_get("/docs", docs_view.docs_page)
