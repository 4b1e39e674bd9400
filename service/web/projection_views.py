"""Admin routes of the read side: projection status and live rebuilds."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiohttp import web

from service.web.auth import check_scope
from service.web.errors import json_response, not_found
from service.web.keys import PROJECTIONS, REBUILDS, SETTINGS
from service.web.parameters import takes

STATUS_SECONDS = 5.0


@takes(scope="admin")
async def list_projections(request: web.Request) -> web.Response:
    check_scope(request, request.app[SETTINGS], "admin")
    # A lost database must answer 503 promptly, not after the library's retries.
    async with asyncio.timeout(STATUS_SECONDS):
        status = await request.app[PROJECTIONS].status()
    return json_response(status)


@takes(scope="admin")
async def rebuild_projection(request: web.Request) -> web.Response:
    check_scope(request, request.app[SETTINGS], "admin")
    name = request.match_info["name"]
    if not start_rebuild(request.app, name):
        raise not_found()
    return json_response({"name": name, "state": "rebuilding"}, status=202)


def start_rebuild(app: web.Application, name: str) -> bool:
    """Start rebuilding projection `name` in the background; False when there is none."""
    live = app[PROJECTIONS]
    if name not in live.names():
        return False
    task = asyncio.create_task(live.rebuild(name), name=f"rebuild-{name}")
    # Keep a reference so the task is not collected mid-rebuild; its failure shows as the
    # projection's "failed" state, already logged by the rebuild.
    rebuilds = app[REBUILDS]
    rebuilds.add(task)
    task.add_done_callback(_forget(rebuilds))
    return True


def _forget(rebuilds: set[asyncio.Task[None]]) -> Callable[[asyncio.Task[None]], None]:
    def done(task: asyncio.Task[None]) -> None:
        rebuilds.discard(task)
        if not task.cancelled():
            task.exception()

    return done
