"""Console pages beside the `/v1` routes they read through, on a seeded log.

A page reads several queries and renders HTML, a route answers one query as JSON: the ratio
says what the page costs over the API answer it is built from. One connection at a time, as
one person browsing, so the figures are a page's own answer time, not a queue's.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench.databases import Backends, Kind, fresh_database
from bench.deliveries import event_id_of, source_time_of, ticket_id_of
from bench.load import LoadBounds, median_of
from bench.processes import run_load, service, status_of
from bench.seed import seed_log
from projections.catalog import CATALOG
from projections.runtime.offline import rebuild_offline
from projections.store.generations import ProjectionStores
from service.settings import DatabaseLocation
from service.storage import open_log

# Each console page and the `/v1` route answering the same question.
PAIRS = {
    "home": ("/", "/v1/projections"),
    "event": ("/events/{event}", "/v1/tickets?eventId={event}"),
    "ticket": ("/tickets/{ticket}", "/v1/tickets/{ticket}"),
    "ticket_at": ("/tickets/{ticket}?at={at}", "/v1/tickets/{ticket}?at={at}"),
    "changes": ("/changes?eventId={event}", "/v1/changes?eventId={event}"),
}


def measure_console(
    backends: Backends,
    kind: Kind,
    events: int,
    pool: int,
    bounds: LoadBounds,
    runs: int,
    log_dir: Path,
    say: Callable[[str], None],
) -> dict[str, Any]:
    with fresh_database(backends, kind, "console") as database:
        say(f"{kind}: console, seeding {events} events")
        seed_log(database.url, 0, events, pool)
        say(f"{kind}: console, building the projections")
        build_projections(database.url)
        with service(database.url, log_dir) as base_url:
            say(f"{kind}: console pages beside their /v1 routes")
            pages = page_latencies(base_url, events, pool, bounds, runs)
    return {"events": events, "connections": bounds.connections, "pages": pages}


def build_projections(database_url: str) -> None:
    """Every projection to the log's head before `serve` starts, so none is still catching up
    while pages are timed."""
    location = DatabaseLocation.parse(database_url)
    log = open_log(location)
    storage = ProjectionStores(location)
    try:
        rebuild_offline(log, storage, list(CATALOG.values()))
    finally:
        storage.close()
        log.close()


def page_latencies(
    base_url: str, events: int, pool: int, bounds: LoadBounds, runs: int
) -> dict[str, Any]:
    at = quote(source_time_of(events // 2).isoformat())
    probe_ticket = ticket_id_of(0, pool)
    results: dict[str, Any] = {}
    for name, pair in PAIRS.items():
        measured: dict[str, Any] = {}
        for side, template in zip(("console", "api"), pair, strict=True):
            path = template.replace("{at}", at)
            probe = path.format(ticket=probe_ticket, event=event_id_of(probe_ticket))
            status = status_of(base_url + probe)
            if status != 200:
                raise RuntimeError(f"{probe} answered {status}")
            arguments = [
                "get",
                base_url,
                f"--template={path}",
                f"--tickets={events}",
                f"--pool={pool}",
            ]
            measured[side] = median_of(
                [run_load([*arguments, f"--seed={run}"], bounds) for run in range(runs)]
            )
        results[name] = {
            **measured,
            "p50_ratio": _ratio(measured["console"]["p50_ms"], measured["api"]["p50_ms"]),
            "p99_ratio": _ratio(measured["console"]["p99_ms"], measured["api"]["p99_ms"]),
        }
    return results


def _ratio(console: float, api: float) -> float | None:
    return round(console / api, 2) if api else None
