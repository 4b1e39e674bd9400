"""What every query route shares: read-your-writes waits, parameters, and the reader pool."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, tzinfo
from typing import Any, TypeVar

from aiohttp import web

from projections.read_model import PastSnapshots, epoch_micros
from projections.runtime.log_reader import LogSnapshots
from projections.store.parked import parked_for
from projections.store.views import ProjectionStore
from service.payload import parse_source_timestamp
from service.web.auth import check_scope
from service.web.errors import JSONError, bad_request, json_error, not_found
from service.web.keys import LOG, PROJECTIONS, READERS, RELEASES, SETTINGS

MIN_POSITION_WAIT_SECONDS = 5.0

Result = TypeVar("Result")


async def projection_for_read(request: web.Request, name: str) -> ProjectionStore:
    """Authorise, honour `minPosition`, and hand back the store that answers now."""
    check_scope(request, request.app[SETTINGS], "read")
    return await projection_view(request, name)


def past_snapshots(request: web.Request) -> PastSnapshots:
    """Where a query reads a past version's snapshot: the log, at the version's position."""
    return LogSnapshots(request.app[LOG])


async def projection_view(request: web.Request, name: str) -> ProjectionStore:
    """The store that answers now, once `minPosition` (if given) has been applied."""
    live = request.app[PROJECTIONS]
    min_position = int_param(request, "minPosition")
    # A zero wait answers at once whether the position is applied already, the usual case.
    if min_position is not None and not await live.wait_for(min_position, [name], 0):
        await check_min_position(request, min_position)
        if not await live.wait_for(min_position, [name], MIN_POSITION_WAIT_SECONDS):
            raise json_error(503, {"error": "projection_lag"}, headers={"Retry-After": "1"})
    store, release = live.take_for_reading(name)
    request.setdefault(RELEASES, []).append(release)
    return store


async def stale_mark(
    request: web.Request, view: ProjectionStore, ticket_id: int
) -> dict[str, Any] | None:
    """The contract's `stale` for a ticket answered from `view`: its earliest event that
    this generation could not apply; None when there is none."""
    if not request.app[PROJECTIONS].may_have_parked(view):
        return None
    return await in_reader(request, lambda: parked_for(view, ticket_id))


def marked(answer: dict[str, Any], stale: dict[str, Any] | None) -> dict[str, Any]:
    """`answer` with `stale` when the ticket has a parked event."""
    return answer if stale is None else {**answer, "stale": stale}


def not_found_marked(stale: dict[str, Any] | None) -> JSONError:
    """404 for a ticket; `stale` says an event of it was parked, which may be why."""
    return not_found() if stale is None else json_error(404, {"error": "not_found", "stale": stale})


@web.middleware
async def release_reads(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Hand back the generations a query read once it has answered, streamed answers included:
    a generation replaced meanwhile is retired only then."""
    try:
        return await handler(request)
    finally:
        for release in request.get(RELEASES, ()):
            release()


async def check_min_position(request: web.Request, min_position: int) -> None:
    """400 for a position the log has not reached: no wait would ever see it applied.

    Every position a delivery was answered with is committed before that answer.
    """
    head = await request.app[PROJECTIONS].head()
    if min_position > head:
        raise bad_request(f"minPosition {min_position} is past the log's head ({head})")


async def in_reader(request: web.Request, query: Callable[[], Result]) -> Result:
    return await asyncio.get_running_loop().run_in_executor(request.app[READERS], query)


# Ids and positions live in BIGINT columns; larger numbers can name nothing stored.
BIGINT_RANGE = range(-(2**63), 2**63)


def int_param(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    return None if raw is None else _bigint(raw, name)


def path_int(request: web.Request, name: str) -> int:
    return _bigint(request.match_info[name], name)


# ASCII digits only: `int` also reads full-width digits, " 7", "+7" and "1_000".
_INTEGER = re.compile(r"-?[0-9]+")
# Longer than any BIGINT, short enough that `int` never refuses it.
_MAX_DIGITS = 40


def parse_bigint(raw: str) -> int | None:
    """The integer `raw` spells in ASCII digits if it fits a BIGINT column, else None."""
    if len(raw) > _MAX_DIGITS or not _INTEGER.fullmatch(raw):
        return None
    value = int(raw)
    return value if value in BIGINT_RANGE else None


def _bigint(raw: str, name: str) -> int:
    if not _INTEGER.fullmatch(raw):
        raise bad_request(f"{name} must be an integer")
    value = parse_bigint(raw)
    if value is None:
        raise bad_request(f"{name} must fit in a signed 64-bit integer")
    return value


def time_param(request: web.Request, name: str, default_zone: tzinfo = UTC) -> datetime | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        return parse_source_timestamp(raw, default_zone)
    except ValueError:
        raise bad_request(f"{name} must be an ISO 8601 date-time") from None


def micros_param(request: web.Request, name: str, default_zone: tzinfo = UTC) -> int | None:
    moment = time_param(request, name, default_zone)
    return None if moment is None else epoch_micros(moment)
