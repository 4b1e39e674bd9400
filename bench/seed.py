"""Filling a log through the bulk path: `record_deliveries` with large groups, no HTTP."""

from __future__ import annotations

import time
from dataclasses import dataclass

from bench.deliveries import delivery_body, delivery_facts
from service.settings import DatabaseLocation
from service.storage import open_log

SEED_BATCH = 1000


@dataclass(frozen=True)
class Seeded:
    events: int
    raw_body_bytes: int
    seconds: float

    @property
    def events_per_s(self) -> float:
        return round(self.events / self.seconds, 1) if self.seconds else 0.0


def seed_log(database_url: str, first_index: int, count: int, pool: int) -> Seeded:
    """Record deliveries `first_index .. first_index + count - 1`, each a new version."""
    log = open_log(DatabaseLocation.parse(database_url))
    raw_bytes = 0
    started = time.perf_counter()
    try:
        for start in range(first_index, first_index + count, SEED_BATCH):
            stop = min(start + SEED_BATCH, first_index + count)
            batch = [delivery_facts(delivery_body(i, pool)) for i in range(start, stop)]
            outcomes = log.record_deliveries(batch)
            not_recorded = [o for o in outcomes if o.status != "recorded"]
            if not_recorded:
                raise RuntimeError(f"seeding met a duplicate: {not_recorded[0]}")
            raw_bytes += sum(len(facts.raw_body) for facts in batch)
    finally:
        log.close()
    return Seeded(count, raw_bytes, round(time.perf_counter() - started, 3))
