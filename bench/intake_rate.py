"""HTTP intake: the service and the naive receiver under the same load, on the same kind of
database, each on a fresh one, alternating run by run so that noise hits both alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.databases import Backends, Kind, fresh_database
from bench.deliveries import IndexRange
from bench.load import LoadBounds, LoadResult, median_of
from bench.processes import naive_receiver, run_load, service


def post_load(base_url: str, first_index: int, pool: int, bounds: LoadBounds) -> LoadResult:
    arguments = ["post", base_url, f"--first-index={first_index}", f"--pool={pool}"]
    return run_load(arguments, bounds)


def intake_side_by_side(
    backends: Backends, kind: Kind, pool: int, bounds: LoadBounds, runs: int, log_dir: Path
) -> dict[str, Any]:
    with (
        fresh_database(backends, kind, "intake") as service_db,
        fresh_database(backends, kind, "naive") as naive_db,
        service(service_db.url, log_dir) as service_url,
        naive_receiver(naive_db.url, log_dir) as naive_url,
    ):
        indices = IndexRange()
        service_runs: list[LoadResult] = []
        naive_runs: list[LoadResult] = []
        for _ in range(runs):
            # Both get the very same deliveries; each run's are new to the service's log.
            first = indices.take(bounds.requests)
            service_runs.append(post_load(service_url, first, pool, bounds))
            naive_runs.append(post_load(naive_url, first, pool, bounds))
    ours, naive = median_of(service_runs), median_of(naive_runs)
    return {"service": ours, "naive": naive, "ratio": ratios(ours, naive)}


def ratios(ours: dict[str, Any], naive: dict[str, Any]) -> dict[str, float | None]:
    """Service over naive: above 1 is better for requests/s, below 1 for latencies."""
    return {
        key: round(ours[key] / naive[key], 3) if naive[key] else None
        for key in ("requests_per_s", "p50_ms", "p99_ms")
    }
