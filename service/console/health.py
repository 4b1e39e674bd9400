"""The service's health as the home page shows it: projections, chain, quarantine, intake."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from service.console.delivery_rate import DELIVERY_RATE
from service.web.keys import LAST_VERIFY, PROJECTIONS, QUARANTINE, READERS
from service.web.projection_views import STATUS_SECONDS


async def projection_status(app: web.Application) -> list[dict[str, Any]]:
    """What `GET /v1/projections` answers."""
    async with asyncio.timeout(STATUS_SECONDS):
        return await app[PROJECTIONS].status()


async def health(app: web.Application) -> dict[str, Any]:
    status = await projection_status(app)
    quarantined = await asyncio.get_running_loop().run_in_executor(
        app[READERS], app[QUARANTINE].count
    )
    head = max((int(p["head"]) for p in status), default=0)
    last = app[LAST_VERIFY]
    return {
        "projections": status,
        "head": head,
        "quarantined": quarantined,
        "per_minute": app[DELIVERY_RATE].per_minute(time.monotonic(), head),
        "verify": None if last.report is None else last.report.as_json(),
        "verified_at": None if last.finished_at is None else last.finished_at.isoformat(),
    }
