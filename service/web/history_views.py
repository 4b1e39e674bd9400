"""`/v1/tickets/{ticketId}/history` and `/v1/changes`: versions with their changes, the feed."""

from __future__ import annotations

import functools
from typing import Any

from aiohttp import web

from projections.history import queries as history_queries
from projections.history.projection import HistoryProjection
from projections.history.queries import FEED_START, FeedFilter, FeedFormat, Key, PathFilter
from projections.store.views import ProjectionStore
from service.web.errors import bad_request, json_response
from service.web.keys import SETTINGS
from service.web.paging import Page, page_params
from service.web.parameters import takes
from service.web.reading import (
    in_reader,
    int_param,
    marked,
    micros_param,
    not_found_marked,
    path_int,
    projection_for_read,
    stale_mark,
)

PROJECTION = HistoryProjection.name

# The media types `Accept` may name, and the feed format each asks for (None: JSON pages).
_ACCEPTED: dict[str, FeedFormat | None] = {
    "application/json": None,
    "application/x-ndjson": "ndjson",
    "text/csv": "csv",
}
_CONTENT_TYPES: dict[FeedFormat, str] = {"ndjson": "application/x-ndjson", "csv": "text/csv"}


@takes("since", "until", "path", "limit", "cursor", "minPosition", scope="read")
async def ticket_history(request: web.Request) -> web.Response:
    view = await projection_for_read(request, PROJECTION)
    ticket_id = path_int(request, "ticketId")
    limit, cursor = page_params(request)
    after = cursor_key(cursor)
    zone = request.app[SETTINGS].zone
    since, until = micros_param(request, "since", zone), micros_param(request, "until", zone)
    path = path_param(request)
    entries = await in_reader(
        request,
        lambda: history_queries.ticket_history(
            view,
            ticket_id,
            since_us=since,
            until_us=until,
            path=path,
            after=after,
            count=limit + 1,
        ),
    )
    stale = await stale_mark(request, view, ticket_id)
    if entries is None:
        raise not_found_marked(stale)
    page = Page.of(entries, limit, lambda entry: {"after": list(entry[0])})
    return json_response(marked(page.as_json([item for _, item in page.items]), stale))


@takes(
    *("eventId", "ticketId", "path", "since", "until", "format"),
    *("limit", "cursor", "minPosition"),
    scope="read",
)
async def change_feed(request: web.Request) -> web.StreamResponse:
    view = await projection_for_read(request, PROJECTION)
    feed_filter = feed_filter_param(request)
    output_format = _feed_format(request)
    if output_format is not None:
        return await stream_feed(request, view, feed_filter, output_format)
    limit, cursor = page_params(request)
    after = cursor_key(cursor) or FEED_START
    entries = await in_reader(
        request, lambda: history_queries.feed_page(view, feed_filter, after, limit + 1)
    )
    page = Page.of(entries, limit, lambda entry: {"after": list(entry[0])})
    return json_response(page.as_json([item for _, item in page.items]))


async def stream_feed(
    request: web.Request,
    view: ProjectionStore,
    feed_filter: FeedFilter,
    output_format: FeedFormat,
    filename: str | None = None,
) -> web.StreamResponse:
    """The whole filtered feed, read a batch at a time on the reader pool; with `filename`,
    as a download of that name."""
    response = web.StreamResponse()
    if filename is not None:
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.content_type = _CONTENT_TYPES[output_format]
    response.charset = "utf-8"
    await response.prepare(request)
    await response.write(history_queries.feed_header(output_format))
    after: Key | None = FEED_START
    while after is not None:
        read_batch = functools.partial(
            history_queries.feed_batch, view, feed_filter, after, history_queries.SCAN_BATCH
        )
        batch, after = await in_reader(request, read_batch)
        if batch:
            await response.write(
                history_queries.encode_feed((item for _, item in batch), output_format)
            )
    await response.write_eof()
    return response


def feed_filter_param(request: web.Request) -> FeedFilter:
    """The feed's filters: `eventId`, `ticketId`, `path`, `since`, `until`."""
    zone = request.app[SETTINGS].zone
    return FeedFilter(
        event_id=int_param(request, "eventId"),
        ticket_id=int_param(request, "ticketId"),
        path=path_param(request),
        since_us=micros_param(request, "since", zone),
        until_us=micros_param(request, "until", zone),
    )


def _feed_format(request: web.Request) -> FeedFormat | None:
    """`format` when given, else the first known media type `Accept` names; None: JSON."""
    requested = request.query.get("format")
    if requested is None:
        for media_type in request.headers.get("Accept", "").split(","):
            bare = media_type.split(";")[0].strip().lower()
            if bare in _ACCEPTED:
                return _ACCEPTED[bare]
        return None
    if requested == "json":
        return None
    if requested == "ndjson":
        return "ndjson"
    if requested == "csv":
        return "csv"
    raise bad_request("format must be json, ndjson or csv")


def path_param(request: web.Request) -> PathFilter | None:
    raw = request.query.get("path")
    if raw is None:
        return None
    try:
        return PathFilter.parse(raw)
    except ValueError:
        raise bad_request(
            "path must be a change path, e.g. value.price or salePeriods[id=70127].finish"
        ) from None


def cursor_key(cursor: dict[str, Any]) -> Key | None:
    after = cursor.get("after")
    if after is None:
        return None
    if (
        isinstance(after, list)
        and len(after) == 2
        and all(type(part) is int for part in after)  # a JSON true is no position
    ):
        return after[0], after[1]
    raise bad_request("cursor is not one this service gave out")
