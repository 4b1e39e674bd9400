"""What the server-drawn charts share: a time axis and its tick labels."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

TICKS = 5


def moment(iso: str) -> float:
    """Seconds since the epoch of an ISO 8601 time as the read models write it."""
    parsed = datetime.fromisoformat(iso)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class Scale:
    """Maps [low, high] onto [start, end] pixels; a single value lands in the middle."""

    low: float
    high: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        if self.high == self.low:
            return round((self.start + self.end) / 2, 1)
        share = (value - self.low) / (self.high - self.low)
        return round(self.start + share * (self.end - self.start), 1)


def time_ticks(scale: Scale) -> list[Tick]:
    """Evenly spaced labels in UTC; with hours when the axis spans less than a few days."""
    if scale.high == scale.low:
        return [Tick(scale(scale.low), _label(scale.low, with_time=True))]
    with_time = scale.high - scale.low < 4 * 86400
    step = (scale.high - scale.low) / (TICKS - 1)
    return [
        Tick(scale(scale.low + i * step), _label(scale.low + i * step, with_time))
        for i in range(TICKS)
    ]


def _label(seconds: float, with_time: bool) -> str:
    when = datetime.fromtimestamp(seconds, UTC)
    return when.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")
