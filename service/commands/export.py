"""`ticket-audit export [--format csv|ndjson] [filters]`: the change feed on stdout.

It reads the history projection as it stands (the generation `serve` or `rebuild` last made
active) without opening the log, so it writes what `/v1/changes` would answer right now.
"""

from __future__ import annotations

import os
import sys

from projections.history.projection import HistoryProjection
from projections.history.queries import (
    FeedFilter,
    FeedFormat,
    PathFilter,
    encode_feed,
    feed_header,
    whole_feed,
)
from projections.read_model import epoch_micros
from projections.store.generations import ProjectionStores
from projections.store.views import ProjectionStore
from service.payload import parse_source_timestamp
from service.settings import Settings, SettingsError
from service.storage_errors import require_log

PROJECTION = HistoryProjection.name


def export_feed(
    settings: Settings,
    output_format: FeedFormat,
    *,
    event_id: int | None,
    ticket_id: int | None,
    path: str | None,
    since: str | None,
    until: str | None,
) -> int:
    feed_filter = FeedFilter(
        event_id=event_id,
        ticket_id=ticket_id,
        path=_path_filter(path),
        since_us=_micros("--since", since, settings),
        until_us=_micros("--until", until, settings),
    )
    require_log(settings.database)
    storage = ProjectionStores(settings.database)
    try:
        generation = storage.active_generation(PROJECTION)
        if generation is None:
            print(
                f"ticket-audit: the {PROJECTION} projection has never been built: "
                f"run `ticket-audit rebuild {PROJECTION}` or start `ticket-audit serve`",
                file=sys.stderr,
            )
            return 1
        view = storage.open_store(PROJECTION, generation)
        try:
            _write(view, feed_filter, output_format)
        finally:
            view.close()
    finally:
        storage.close()
    return 0


def _write(view: ProjectionStore, feed_filter: FeedFilter, output_format: FeedFormat) -> None:
    out = sys.stdout.buffer
    try:
        out.write(feed_header(output_format))
        for items in whole_feed(view, feed_filter):
            out.write(encode_feed(items, output_format))
            out.flush()
    except BrokenPipeError:
        # The reader stopped early (`| head`): end quietly, without Python's exit-time error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _path_filter(path: str | None) -> PathFilter | None:
    if path is None:
        return None
    try:
        return PathFilter.parse(path)
    except ValueError:
        raise SettingsError(
            "--path must be a change path, e.g. value.price or salePeriods[id=70127].finish"
        ) from None


def _micros(option: str, raw: str | None, settings: Settings) -> int | None:
    if raw is None:
        return None
    try:
        return epoch_micros(parse_source_timestamp(raw, settings.zone))
    except ValueError:
        raise SettingsError(f"{option} must be an ISO 8601 date-time") from None
