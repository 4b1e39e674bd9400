"""Liveness, readiness and metrics."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.web.errors import UNAVAILABLE_STORAGE, json_response
from service.web.keys import LOG, METRICS, PROJECTIONS, READERS

READY_CHECK_SECONDS = 5.0


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready when the log answers and every projection follows it (parked events do not
    stop one from following)."""
    log = request.app[LOG].chained_recorder
    try:
        # chain_head makes one attempt; the library's own reads retry for half a minute.
        async with asyncio.timeout(READY_CHECK_SECONDS):
            await asyncio.get_running_loop().run_in_executor(request.app[READERS], log.chain_head)
    except UNAVAILABLE_STORAGE:
        storage = "unreachable"
    else:
        storage = "ok"
    live = request.app[PROJECTIONS]
    projections = "live" if live.all_live() else "failed"
    ready = storage == "ok" and projections == "live"
    return json_response(
        {
            "status": "ready" if ready else "unavailable",
            "storage": storage,
            "projections": projections,
        },
        status=200 if ready else 503,
        headers=None if ready else {"Retry-After": "2"},
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
