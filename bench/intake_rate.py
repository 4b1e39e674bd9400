"""HTTP intake: the service and the naive receiver under the same load, on the same kind of
database, each on a fresh one, alternating run by run so that noise hits both alike.

The service's projections are applied by its worker at a lower priority, so after a burst
they may lag: each service run also records the lag when the load ended and how long the
read models took to catch up, and the naive receiver's run starts only once they have (a
worker still catching up would take CPU from it).
"""

from __future__ import annotations

import statistics
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from bench import cpu
from bench.databases import Backends, Kind, fresh_database
from bench.deliveries import IndexRange
from bench.load import LoadBounds, LoadResult, median_of
from bench.processes import naive_receiver, run_load, service_process

# Bounds the wait for the read models after a burst; far beyond any lag seen.
CATCH_UP_LIMIT_SECONDS = 600.0
CATCH_UP_POLL_SECONDS = 0.05


def post_load(base_url: str, first_index: int, pool: int, bounds: LoadBounds) -> LoadResult:
    arguments = ["post", base_url, f"--first-index={first_index}", f"--pool={pool}"]
    return run_load(arguments, bounds)


def intake_side_by_side(
    backends: Backends, kind: Kind, pool: int, bounds: LoadBounds, runs: int, log_dir: Path
) -> dict[str, Any]:
    with (
        fresh_database(backends, kind, "intake") as service_db,
        fresh_database(backends, kind, "naive") as naive_db,
        service_process(service_db.url, log_dir) as ours_server,
        naive_receiver(naive_db.url, log_dir) as naive_server,
    ):
        indices = IndexRange()
        service_runs: list[LoadResult] = []
        naive_runs: list[LoadResult] = []
        catch_ups: list[dict[str, float]] = []
        service_cpu: list[dict[str, float]] = []
        naive_cpu: list[dict[str, float]] = []
        for _ in range(runs):
            # Both get the very same deliveries; each run's are new to the service's log.
            first = indices.take(bounds.requests)
            before = cpu.sample(ours_server.pid)
            service_runs.append(post_load(ours_server.url, first, pool, bounds))
            catch_ups.append(projections_catch_up(ours_server.url))
            # The service's CPU includes its worker bringing the read models up to date.
            service_cpu.append(
                per_delivery(cpu.sample(ours_server.pid).minus(before), service_runs[-1])
            )
            before = cpu.sample(naive_server.pid)
            naive_runs.append(post_load(naive_server.url, first, pool, bounds))
            naive_cpu.append(
                per_delivery(cpu.sample(naive_server.pid).minus(before), naive_runs[-1])
            )
    ours, naive = median_of(service_runs), median_of(naive_runs)
    ours["projections"] = {
        "lag_at_end_events": statistics.median(c["lag_at_end_events"] for c in catch_ups),
        "caught_up_after_s": statistics.median(c["caught_up_after_s"] for c in catch_ups),
        "runs": catch_ups,
    }
    ours["cpu_us_per_delivery"] = median_cpu(service_cpu)
    naive["cpu_us_per_delivery"] = median_cpu(naive_cpu)
    return {"service": ours, "naive": naive, "ratio": ratios(ours, naive)}


def per_delivery(spent: cpu.CpuSample, run: LoadResult) -> dict[str, float]:
    """Microseconds of CPU per delivery answered 2xx: the server, PostgreSQL, and both."""
    count = max(run.ok, 1)
    server, postgres = round(spent.server_s * 1e6 / count), round(spent.postgres_s * 1e6 / count)
    return {"server": server, "postgres": postgres, "total": server + postgres}


def median_cpu(runs: list[dict[str, float]]) -> dict[str, float]:
    return {
        key: statistics.median(run[key] for run in runs) for key in ("server", "postgres", "total")
    }


def projection_lags(base_url: str) -> list[int]:
    with urllib.request.urlopen(f"{base_url}/v1/projections", timeout=30) as answer:  # noqa: S310
        return [int(projection["lag"]) for projection in orjson.loads(answer.read())]


def projections_catch_up(base_url: str) -> dict[str, float]:
    """The largest projection lag right after a load, and the seconds until none lags."""
    started = time.perf_counter()
    lag_at_end = max(projection_lags(base_url))
    lags = [lag_at_end]
    while max(lags) > 0:
        if time.perf_counter() - started > CATCH_UP_LIMIT_SECONDS:
            raise RuntimeError(f"projections still lag {lags} after {CATCH_UP_LIMIT_SECONDS} s")
        time.sleep(CATCH_UP_POLL_SECONDS)
        lags = projection_lags(base_url)
    return {
        "lag_at_end_events": lag_at_end,
        "caught_up_after_s": round(time.perf_counter() - started, 3),
    }


def ratios(ours: dict[str, Any], naive: dict[str, Any]) -> dict[str, float | None]:
    """Service over naive: above 1 is better for requests/s, below 1 for latencies."""
    return {
        key: round(ours[key] / naive[key], 3) if naive[key] else None
        for key in ("requests_per_s", "p50_ms", "p99_ms")
    } | {
        "cpu_per_delivery": round(
            ours["cpu_us_per_delivery"]["total"] / naive["cpu_us_per_delivery"]["total"], 3
        )
        if naive["cpu_us_per_delivery"]["total"]
        else None
    }
