"""The sale-period Gantt chart: a row per state of each period, over the periods' own dates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from service.console.chart_axes import Scale, Tick, moment, time_ticks

WIDTH = 720
LABEL_WIDTH = 150
RIGHT, TOP, ROW, AXIS = 16, 8, 22, 28


@dataclass(frozen=True)
class Bar:
    y: float
    x: float | None
    width: float
    label: str
    start: Any
    finish: Any
    available: Any
    since: str
    removed_at: str | None


@dataclass(frozen=True)
class Gantt:
    width: int
    height: int
    bars: Sequence[Bar]
    ticks: Sequence[Tick]
    axis_y: float
    label_width: int


def gantt(timelines: Sequence[dict[str, Any]]) -> Gantt | None:
    """One bar per state of each `/sale-periods` timeline; a removed period's last bar says
    when it went. A state whose dates are missing or unreadable gets a row without a bar."""
    rows: list[tuple[dict[str, Any], dict[str, Any], bool]] = []
    for timeline in timelines:
        states = timeline["states"]
        for index, state in enumerate(states):
            last = index == len(states) - 1
            rows.append((timeline, state, last and timeline["removedAt"] is not None))
    if not rows:
        return None
    spans = [_span(state) for _, state, _ in rows]
    known = [moment_ for span in spans if span is not None for moment_ in span]
    if not known:
        known = [0.0]
    x = Scale(min(known), max(known), LABEL_WIDTH, WIDTH - RIGHT)
    bars = []
    for row, ((timeline, state, removed), span) in enumerate(zip(rows, spans, strict=True)):
        y = TOP + row * ROW
        bar_x = None if span is None else x(span[0])
        bars.append(
            Bar(
                y=y,
                x=bar_x,
                width=0 if span is None or bar_x is None else max(x(span[1]) - bar_x, 2),
                label=f"#{timeline['id']} v{state['version']}",
                start=state["start"],
                finish=state["finish"],
                available=state["available"],
                since=state["sourceTimestamp"],
                removed_at=timeline["removedAt"] if removed else None,
            )
        )
    axis_y = TOP + len(rows) * ROW + 4
    return Gantt(WIDTH, int(axis_y + AXIS), bars, time_ticks(x), axis_y, LABEL_WIDTH)


def _span(state: dict[str, Any]) -> tuple[float, float] | None:
    start, finish = state["start"], state["finish"]
    if not isinstance(start, str) or not isinstance(finish, str):
        return None
    try:
        begin, end = moment(start), moment(finish)
    except ValueError:
        return None
    return (begin, end) if end >= begin else (end, begin)
