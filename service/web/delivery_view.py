"""`GET /v1/deliveries/{deliveryId}`: a recorded delivery's body, byte for byte."""

from __future__ import annotations

import asyncio
import re

from aiohttp import web

from service.web.auth import check_scope
from service.web.errors import not_found
from service.web.keys import LOG, READERS, SETTINGS
from service.web.parameters import takes
from service.web.reading import check_min_position, int_param

_DELIVERY_ID = re.compile(r"[0-9a-f]{64}")


@takes("minPosition", scope="read")
async def show_delivery(request: web.Request) -> web.Response:
    check_scope(request, request.app[SETTINGS], "read")
    # The log answers this route itself, so a position it holds needs no wait.
    min_position = int_param(request, "minPosition")
    if min_position is not None:
        await check_min_position(request, min_position)
    delivery_id = request.match_info["deliveryId"]
    if not _DELIVERY_ID.fullmatch(delivery_id):
        raise not_found()
    log = request.app[LOG]
    event = await asyncio.get_running_loop().run_in_executor(
        request.app[READERS], log.delivery, delivery_id
    )
    if event is None:
        raise not_found()
    return web.Response(
        body=event.raw_body,
        content_type="application/json",
        headers={"X-Received-At": event.timestamp.isoformat()},
    )
