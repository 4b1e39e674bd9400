"""Liveness, readiness and metrics."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.web.errors import json_response
from service.web.keys import CIRCUIT, METRICS, PROJECTIONS


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready when a delivery would be recorded now: storage takes writes (a write probe,
    or the open circuit's own). The projections' state is reported, not judged: a lagging,
    failed or parked read model does not stop deliveries from being recorded."""
    circuit = request.app[CIRCUIT]
    ready = await circuit.check()
    body: dict[str, object] = {
        "status": "ready" if ready else "unavailable",
        "storage": "ok" if ready else "unavailable",
    }
    if not ready:
        body["cause"] = circuit.cause
    body["projections"] = "live" if request.app[PROJECTIONS].all_live() else "failed"
    return json_response(
        body, status=200 if ready else 503, headers=None if ready else {"Retry-After": "2"}
    )


async def metrics(request: web.Request) -> web.Response:
    metrics = request.app[METRICS]
    # Read at scrape time from what answers now, so a rebuild's clean slate shows at once.
    for name, parked in request.app[PROJECTIONS].parked_counts().items():
        metrics.projection_parked.labels(name).set(parked)
    registry = metrics.registry
    return web.Response(
        body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )
