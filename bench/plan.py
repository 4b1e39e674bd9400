"""What a benchmark run measures and at which sizes: the full run, the quick one, overrides."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from bench.databases import Kind
from bench.load import LoadBounds

Mode = Literal["full", "quick"]
Measurement = Literal["intake", "append", "import", "stages", "console"]
MEASUREMENTS: tuple[Measurement, ...] = ("intake", "append", "import", "stages", "console")


@dataclass(frozen=True)
class Plan:
    mode: Mode
    events: int
    growth_sizes: tuple[int, ...]
    runs: int
    pool: int
    intake: LoadBounds
    queries: LoadBounds
    append_one_per_call: int
    append_hundred_per_call: int
    append_seconds: float
    console_events: int
    console_queries: LoadBounds
    import_deliveries: int
    backends: tuple[Kind, ...] = ("postgres", "sqlite")
    measurements: tuple[Measurement, ...] = MEASUREMENTS

    @property
    def complete(self) -> bool:
        """Whether every measurement runs: only then is there a whole table to write."""
        return set(self.measurements) == set(MEASUREMENTS)

    @classmethod
    def full(cls) -> Plan:
        return cls(
            mode="full",
            events=1_000_000,
            growth_sizes=(100_000, 1_000_000),
            runs=3,
            pool=10_000,
            intake=LoadBounds(connections=32, requests=20_000, seconds=30),
            queries=LoadBounds(connections=16, requests=5_000, seconds=15),
            append_one_per_call=2_000,
            append_hundred_per_call=20_000,
            append_seconds=30,
            console_events=100_000,
            console_queries=LoadBounds(connections=1, requests=500, seconds=15),
            import_deliveries=200_000,
        )

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            mode="quick",
            events=200,
            growth_sizes=(),
            runs=1,
            pool=100,
            intake=LoadBounds(connections=32, requests=200, seconds=2),
            queries=LoadBounds(connections=16, requests=100, seconds=2),
            append_one_per_call=50,
            append_hundred_per_call=200,
            append_seconds=2,
            console_events=200,
            console_queries=LoadBounds(connections=1, requests=50, seconds=2),
            import_deliveries=200,
        )

    def with_events(self, events: int) -> Plan:
        """Another size for the main log; growth compares a tenth of it with all of it."""
        growth = (events // 10, events) if self.growth_sizes else ()
        return replace(self, events=events, growth_sizes=growth)

    @property
    def stage_sizes(self) -> list[int]:
        return sorted({*self.growth_sizes, self.events})

    @property
    def ticket_pool(self) -> int:
        """Small enough that every ticket has a version before the middle of the smallest log,
        where the `at=` queries look."""
        return max(min(self.pool, self.stage_sizes[0] // 2), 1)
