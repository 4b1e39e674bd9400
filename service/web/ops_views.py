"""Liveness, readiness and metrics."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.committer import STORAGE_ERRORS
from service.web.errors import json_response
from service.web.keys import LOG, METRICS, READERS


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    log = request.app[LOG].chained_recorder
    try:
        await asyncio.get_running_loop().run_in_executor(
            request.app[READERS], log.max_notification_id
        )
    except STORAGE_ERRORS:
        return json_response(
            {"status": "unavailable", "storage": "unreachable"},
            status=503,
            headers={"Retry-After": "2"},
        )
    return json_response({"status": "ready", "storage": "ok"})


async def metrics(request: web.Request) -> web.Response:
    registry = request.app[METRICS].registry
    return web.Response(
        body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )
