"""The quantity step chart: quantity over source time, a point per version, late ones marked."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from service.console.chart_axes import Scale, Tick, moment, time_ticks

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 12, 28


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    version: int
    quantity: Any
    source: str
    late: bool


@dataclass(frozen=True)
class StepChart:
    width: int
    height: int
    line: str
    points: Sequence[Point]
    x_ticks: Sequence[Tick]
    y_ticks: Sequence[Tick]
    as_of_x: float | None
    plot_top: int
    plot_bottom: int
    plot_left: int
    plot_right: int


def step_chart(
    points: Sequence[dict[str, Any]], late_versions: Collection[int], as_of: str | None
) -> StepChart | None:
    """The chart of the `/quantity` points; None when the ticket never had a quantity."""
    numeric = [p for p in points if isinstance(p["quantity"], int | float)]
    if not numeric:
        return None
    times = [moment(p["sourceTimestamp"]) for p in numeric]
    quantities = [float(p["quantity"]) for p in numeric]
    as_of_moment = None if as_of is None else moment(as_of)
    span_times = [*times, *([] if as_of_moment is None else [as_of_moment])]
    x = Scale(min(span_times), max(span_times), LEFT, WIDTH - RIGHT)
    y = Scale(min(0.0, *quantities), max(1.0, *quantities), HEIGHT - BOTTOM, TOP)
    drawn = [
        Point(
            x(t),
            y(q),
            p["version"],
            p["quantity"],
            p["sourceTimestamp"],
            p["version"] in late_versions,
        )
        for t, q, p in zip(times, quantities, numeric, strict=True)
    ]
    line = f"M{drawn[0].x},{drawn[0].y}"
    for point in drawn[1:]:
        line += f" H{point.x} V{point.y}"
    line += f" H{WIDTH - RIGHT}"
    return StepChart(
        width=WIDTH,
        height=HEIGHT,
        line=line,
        points=drawn,
        x_ticks=time_ticks(x),
        y_ticks=_quantity_ticks(y),
        as_of_x=None if as_of_moment is None else x(as_of_moment),
        plot_top=TOP,
        plot_bottom=HEIGHT - BOTTOM,
        plot_left=LEFT,
        plot_right=WIDTH - RIGHT,
    )


def _quantity_ticks(y: Scale) -> list[Tick]:
    steps = 4
    return [
        Tick(y(y.low + i * (y.high - y.low) / steps), f"{y.low + i * (y.high - y.low) / steps:g}")
        for i in range(steps + 1)
    ]
