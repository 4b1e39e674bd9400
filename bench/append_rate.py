"""Append rates at the library level: one delivery per `record_deliveries` call vs a group."""

from __future__ import annotations

import time
from dataclasses import dataclass

from bench.deliveries import delivery_body, delivery_facts
from service.settings import DatabaseLocation
from service.storage import open_log


@dataclass(frozen=True)
class AppendRate:
    per_call: int
    events: int
    seconds: float

    @property
    def events_per_s(self) -> float:
        return round(self.events / self.seconds, 1) if self.seconds else 0.0


def append_rate(
    database_url: str,
    first_index: int,
    per_call: int,
    max_events: int,
    max_seconds: float,
    pool: int,
) -> AppendRate:
    """Record fresh deliveries `per_call` at a time until `max_events` or `max_seconds`.

    The deliveries are parsed before the clock starts: only `record_deliveries` is timed.
    """
    groups = [
        [
            delivery_facts(delivery_body(first_index + call * per_call + n, pool))
            for n in range(per_call)
        ]
        for call in range(max(max_events // per_call, 1))
    ]
    log = open_log(DatabaseLocation.parse(database_url))
    try:
        recorded = 0
        started = time.perf_counter()
        deadline = started + max_seconds
        for group in groups:
            if time.perf_counter() >= deadline:
                break
            outcomes = log.record_deliveries(group)
            recorded += sum(1 for outcome in outcomes if outcome.status == "recorded")
        elapsed = time.perf_counter() - started
    finally:
        log.close()
    return AppendRate(per_call, recorded, round(elapsed, 3))
