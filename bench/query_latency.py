"""Latency of the query routes against a served log, route by route."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from bench.deliveries import event_id_of, source_time_of, ticket_id_of
from bench.load import LoadBounds, median_of
from bench.processes import run_load, status_of

# `{ticket}` and `{event}` are filled per request by the load process; `{at}` once per log.
ROUTES = {
    "ticket": "/v1/tickets/{ticket}",
    "ticket_at": "/v1/tickets/{ticket}?at={at}",
    "history": "/v1/tickets/{ticket}/history?limit=100",
    "quantity": "/v1/tickets/{ticket}/quantity",
    "sale_periods": "/v1/tickets/{ticket}/sale-periods",
    "changes_by_event": "/v1/changes?eventId={event}",
}


def query_latencies(
    base_url: str, events: int, pool: int, bounds: LoadBounds, runs: int
) -> dict[str, Any]:
    """Each route under `bounds`, `runs` times (medians reported), or `missing` on 404.

    The log holds deliveries `0 .. events - 1`; `at` falls in its middle so that every
    ticket has versions on both sides of it.
    """
    at = quote(source_time_of(events // 2).isoformat())
    results: dict[str, Any] = {}
    for name, template in ROUTES.items():
        path = template.replace("{at}", at)
        probe_ticket = ticket_id_of(0, pool)
        probe = path.format(ticket=probe_ticket, event=event_id_of(probe_ticket))
        if status_of(base_url + probe) == 404:
            results[name] = {"status": "missing"}
            continue
        arguments = ["get", base_url, f"--template={path}", f"--tickets={events}", f"--pool={pool}"]
        measured = [run_load([*arguments, f"--seed={run}"], bounds) for run in range(runs)]
        results[name] = {"status": "measured", **median_of(measured)}
    return results
