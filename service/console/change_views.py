"""The changes page: the feed with its filters and keyset pages, and its downloads."""

from __future__ import annotations

from aiohttp import web

from projections.history import queries as history_queries
from projections.history.queries import FEED_START
from service.console.access import require
from service.console.decoding import plain
from service.console.pages import page, render
from service.web.history_views import cursor_key, feed_filter_param, stream_feed
from service.web.paging import Page, page_params
from service.web.reading import in_reader, projection_view

FILTERS = ("eventId", "ticketId", "path", "since", "until")


@page
async def changes_page(request: web.Request) -> web.Response:
    require(request, "read")
    feed_filter = feed_filter_param(request)
    limit, cursor = page_params(request)
    after = cursor_key(cursor) or FEED_START
    view = await projection_view(request, "history")
    entries = await in_reader(
        request, lambda: history_queries.feed_page(view, feed_filter, after, limit + 1)
    )
    listed = Page.of(entries, limit, lambda entry: {"after": list(entry[0])})
    filters = {name: request.query[name] for name in FILTERS if name in request.query}
    return render(
        request,
        "changes.html",
        {
            "changes": [plain(item) for _, item in listed.items],
            "filters": filters,
            "limit": limit,
            "next_cursor": listed.next_cursor,
        },
    )


@page
async def changes_csv(request: web.Request) -> web.StreamResponse:
    return await _download(request, "csv")


@page
async def changes_ndjson(request: web.Request) -> web.StreamResponse:
    return await _download(request, "ndjson")


async def _download(
    request: web.Request, output_format: history_queries.FeedFormat
) -> web.StreamResponse:
    """The whole filtered feed, as `/v1/changes?format=` streams it."""
    require(request, "read")
    feed_filter = feed_filter_param(request)
    view = await projection_view(request, "history")
    return await stream_feed(request, view, feed_filter, output_format, f"changes.{output_format}")
