"""One log grown stage by stage (say 100k, then 1M events); at each size: rebuild,
storage, query latencies and intake, so that growth shows as the same figures side by side."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.databases import Backends, FreshDatabase, Kind, bytes_on_disk, fresh_database
from bench.deliveries import IndexRange, delivery_body
from bench.intake_rate import post_load
from bench.load import LoadBounds, median_of
from bench.naive_receiver import create_table, load_bodies
from bench.processes import naive_receiver, service
from bench.query_latency import naive_side_by_side, query_latencies
from bench.rebuild_rate import measure_rebuild
from bench.seed import seed_log
from projections.catalog import CATALOG
from service.settings import DatabaseLocation

# Bodies held in memory at once while filling the naive receiver's table.
NAIVE_LOAD_CHUNK = 10_000
# Projection tables (`tickets_g1_current`) and files (`ticket-audit.tickets.g1.sqlite3`).
READ_MODEL_NAME = re.compile(
    r"projection|(^|\.)(" + "|".join(map(re.escape, CATALOG)) + r")[._]g\d+"
)


@dataclass(frozen=True)
class StagePlan:
    sizes: Sequence[int]
    pool: int
    queries: LoadBounds
    intake: LoadBounds
    runs: int


@dataclass
class LogContents:
    events: int = 0
    raw_body_bytes: int = 0


def measure_stages(
    backends: Backends, kind: Kind, plan: StagePlan, log_dir: Path, say: Callable[[str], None]
) -> list[dict[str, Any]]:
    stages: list[dict[str, Any]] = []
    with (
        fresh_database(backends, kind, "log") as database,
        fresh_database(backends, kind, "naive_q") as naive_database,
    ):
        # The naive receiver's table holds the same deliveries as the log, to query them.
        naive = DatabaseLocation.parse(naive_database.url)
        create_table(naive, indexed=True)
        indices = IndexRange()
        contents = LogContents()
        for size in sorted(plan.sizes):
            say(f"{kind}: seeding the log to {size} events")
            count = max(size - contents.events, 0)
            first = indices.take(count)
            seeded = seed_log(database.url, first, count, plan.pool)
            fill_naive(naive, first, count, plan.pool)
            contents.events += seeded.events
            contents.raw_body_bytes += seeded.raw_body_bytes
            say(f"{kind}: rebuilding every projection at {contents.events} events")
            rebuild = measure_rebuild(database.url)
            storage = storage_use(database, rebuild["events"], contents.raw_body_bytes)
            stage: dict[str, Any] = {
                "events": rebuild["events"],
                "seed": {**asdict(seeded), "events_per_s": seeded.events_per_s},
                "rebuild": rebuild,
                "storage": storage,
            }
            with (
                service(database.url, log_dir) as base_url,
                naive_receiver(naive_database.url, log_dir) as naive_server,
            ):
                say(f"{kind}: queries at {contents.events} events")
                stage["queries"] = query_latencies(
                    base_url, indices.next, plan.pool, plan.queries, plan.runs
                )
                say(f"{kind}: queries beside the naive receiver at {contents.events} events")
                stage["naive_queries"] = naive_side_by_side(
                    base_url, naive_server.url, indices.next, plan.pool, plan.queries, plan.runs
                )
                say(f"{kind}: intake at {contents.events} events")
                runs = []
                for _ in range(plan.runs):
                    first = indices.take(plan.intake.requests)
                    runs.append(post_load(base_url, first, plan.pool, plan.intake))
                    fill_naive(naive, first, runs[-1].requests, plan.pool)
                    contents.events += runs[-1].ok
                    contents.raw_body_bytes += runs[-1].ok_body_bytes
                stage["intake"] = median_of(runs)
            stages.append(stage)
    return stages


def fill_naive(location: DatabaseLocation, first: int, count: int, pool: int) -> None:
    """Deliveries `first .. first + count - 1` into the naive receiver's table."""
    for start in range(first, first + count, NAIVE_LOAD_CHUNK):
        stop = min(start + NAIVE_LOAD_CHUNK, first + count)
        load_bodies(location, [delivery_body(index, pool) for index in range(start, stop)])


def storage_use(database: FreshDatabase, events: int, raw_body_bytes: int) -> dict[str, Any]:
    """Bytes on disk per event, the log's and the read models', against the raw bodies."""
    by_name = bytes_on_disk(database)
    read_models = sum(size for name, size in by_name.items() if READ_MODEL_NAME.search(name))
    total = sum(by_name.values())
    log = total - read_models

    def per_event(size: int) -> float:
        return round(size / events, 1) if events else 0.0

    raw = per_event(raw_body_bytes)
    return {
        "by_name": by_name,
        "log_bytes_per_event": per_event(log),
        "read_models_bytes_per_event": per_event(read_models),
        "total_bytes_per_event": per_event(total),
        "raw_body_bytes_per_event": raw,
        "log_to_raw": round(per_event(log) / raw, 3) if raw else None,
        "total_to_raw": round(per_event(total) / raw, 3) if raw else None,
    }
