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
# The naive receiver's answer to the question each of these service routes answers: the
# current body, the bodies in source-time order, the last bodies of an event.
NAIVE_ROUTES = {
    "ticket": "/tickets/{ticket}",
    "history": "/tickets/{ticket}/bodies?limit=100",
    "changes_by_event": "/bodies?eventId={event}&limit=100",
}


def load_arguments(base_url: str, template: str, events: int, pool: int) -> list[str]:
    return ["get", base_url, f"--template={template}", f"--tickets={events}", f"--pool={pool}"]


def naive_side_by_side(
    service_url: str, naive_url: str, events: int, pool: int, bounds: LoadBounds, runs: int
) -> dict[str, Any]:
    """Each question asked of the service's route and of the naive receiver's, under the
    same load with the same tickets, run after run alternating; p50, p99 and their ratio."""
    results: dict[str, Any] = {}
    for name, naive_template in NAIVE_ROUTES.items():
        ours = load_arguments(service_url, ROUTES[name], events, pool)
        theirs = load_arguments(naive_url, naive_template, events, pool)
        measured: dict[str, list[Any]] = {"service": [], "naive": []}
        for run in range(runs):
            measured["service"].append(run_load([*ours, f"--seed={run}"], bounds))
            measured["naive"].append(run_load([*theirs, f"--seed={run}"], bounds))
        sides = {side: median_of(measured[side]) for side in ("service", "naive")}
        ratio = {
            key: round(sides["service"][key] / sides["naive"][key], 3)
            if sides["naive"][key]
            else None
            for key in ("p50_ms", "p99_ms")
        }
        results[name] = {**sides, "naive_route": naive_template, "ratio": ratio}
    return results


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
        arguments = load_arguments(base_url, path, events, pool)
        measured = [run_load([*arguments, f"--seed={run}"], bounds) for run in range(runs)]
        results[name] = {"status": "measured", **median_of(measured)}
    return results
