"""Admin routes of the write side: the chain's verification and checkpoint, the quarantine."""

from __future__ import annotations

import asyncio

from aiohttp import web

from service.chain import VerifyReport, verify
from service.persistence.links import chain_rows
from service.quarantine import QuarantinedDelivery
from service.web.auth import check_scope
from service.web.errors import bad_request, json_response, not_found
from service.web.keys import LAST_VERIFY, LOG, QUARANTINE, READERS, SETTINGS
from service.web.paging import Page, page_params
from service.web.parameters import takes
from service.web.reading import parse_bigint


@takes(scope="admin")
async def verify_log(request: web.Request) -> web.Response:
    check_scope(request, request.app[SETTINGS], "admin")
    report = await verify_chain(request.app)
    return json_response(report.as_json())


async def verify_chain(app: web.Application) -> VerifyReport:
    """Check the whole chain now, and keep the outcome as the last verify result."""
    log = app[LOG].chained_recorder
    loop = asyncio.get_running_loop()
    # One quick attempt first: the library's paged reads retry for half a minute on a lost
    # database, and the caller deserves a prompt 503 instead.
    await loop.run_in_executor(app[READERS], log.chain_head)
    report = await loop.run_in_executor(app[READERS], lambda: verify(chain_rows(log)))
    app[LAST_VERIFY].record(report)
    return report


@takes(scope="admin")
async def checkpoint(request: web.Request) -> web.Response:
    check_scope(request, request.app[SETTINGS], "admin")
    log = request.app[LOG].chained_recorder
    head = await asyncio.get_running_loop().run_in_executor(request.app[READERS], log.chain_head)
    if head is None:
        return json_response({"position": 0, "hash": None})
    return json_response({"position": head.position, "hash": head.hash})


@takes("limit", "cursor", scope="admin")
async def list_quarantine(request: web.Request) -> web.Response:
    check_scope(request, request.app[SETTINGS], "admin")
    page = await quarantine_page(request)
    return json_response(page.as_json([item.summary_json() for item in page.items]))


@takes(scope="admin")
async def show_quarantined(request: web.Request) -> web.Response:
    check_scope(request, request.app[SETTINGS], "admin")
    item = await quarantined(request)
    return json_response(item.full_json())


async def quarantine_page(request: web.Request) -> Page[QuarantinedDelivery]:
    """The page of rejected deliveries that `limit` and `cursor` ask for, newest first."""
    limit, cursor = page_params(request)
    before = cursor.get("before")
    if before is not None and not isinstance(before, int):
        raise bad_request("cursor is not one this service gave out")
    store = request.app[QUARANTINE]
    items = await asyncio.get_running_loop().run_in_executor(
        request.app[READERS], lambda: store.page(limit + 1, before)
    )
    return Page.of(items, limit, lambda last: {"before": last.id})


async def quarantined(request: web.Request) -> QuarantinedDelivery:
    """The rejected delivery the path's `id` names; 404 when there is none."""
    quarantine_id = parse_bigint(request.match_info["id"])
    if quarantine_id is None:
        raise not_found()
    store = request.app[QUARANTINE]
    item = await asyncio.get_running_loop().run_in_executor(
        request.app[READERS], store.get, quarantine_id
    )
    if item is None:
        raise not_found()
    return item
