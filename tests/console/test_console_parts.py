"""The console's pure parts: the delivery rate, the hierarchy tree, the charts' geometry."""

from __future__ import annotations

from typing import Any

from service.console.delivery_rate import DeliveryRate
from service.console.gantt_chart import gantt
from service.console.hierarchy import tree
from service.console.quantity_chart import step_chart


def test_delivery_rate_is_the_heads_movement_over_the_last_minute() -> None:
    rate = DeliveryRate()
    assert rate.per_minute(0.0, 0) is None
    rate.record(0.0, 100)
    assert rate.per_minute(2.0, 110) is None  # too short a span to call a rate
    rate.record(30.0, 160)
    assert rate.per_minute(30.0, 160) == 120.0
    # Past a minute, the oldest sample still a minute old is the base.
    rate.record(70.0, 200)
    rate.record(100.0, 200)
    assert rate.per_minute(100.0, 200) == round(40 * 60 / 70, 1)


def _ticket(ticket_id: int, kind: str = "Ticket") -> dict[str, Any]:
    return {"ticketId": ticket_id, "type": kind}


def test_tree_nests_children_under_groups_and_stops_at_a_cycle() -> None:
    tickets = [_ticket(1, "Group"), _ticket(2, "Group"), _ticket(3), _ticket(4)]
    children = {1: [_ticket(2, "Group"), _ticket(3)], 2: [_ticket(1, "Group")]}
    (lone, root) = tree(tickets, children)
    assert lone.ticket["ticketId"] == 4
    assert not lone.children
    assert root.ticket["ticketId"] == 1
    assert [c.ticket["ticketId"] for c in root.children] == [2, 3]
    (again,) = root.children[0].children
    assert again.ticket["ticketId"] == 1
    assert again.children == []


def test_step_chart_steps_through_every_point_and_marks_late_ones() -> None:
    points = [
        {"sourceTimestamp": "2024-01-01T00:00:00+00:00", "version": 1, "quantity": 10},
        {"sourceTimestamp": "2024-01-02T00:00:00+00:00", "version": 3, "quantity": 5},
        {"sourceTimestamp": "2024-01-03T00:00:00+00:00", "version": 2, "quantity": 8},
    ]
    chart = step_chart(points, {3}, "2024-01-04T00:00:00+00:00")
    assert chart is not None
    first, late, last = chart.points
    assert [p.late for p in chart.points] == [False, True, False]
    assert first.x < late.x < last.x < (chart.as_of_x or 0)
    assert late.y > last.y > first.y  # smaller quantities sit lower (larger y)
    assert chart.line == (
        f"M{first.x},{first.y} H{late.x} V{late.y} H{last.x} V{last.y} H{chart.plot_right}"
    )
    assert step_chart([], set(), None) is None


def test_gantt_has_a_bar_per_state_and_ends_a_removed_period() -> None:
    def state(version: int, finish: str | None) -> dict[str, Any]:
        return {
            "sourceTimestamp": "2024-01-01T00:00:00+00:00",
            "version": version,
            "start": "2020-10-10T10:00:00-03:00",
            "finish": finish,
            "available": True,
        }

    timelines: list[dict[str, Any]] = [
        {
            "id": 7,
            "removedAt": "2024-02-01T00:00:00+00:00",
            "states": [
                state(1, "2020-10-20T10:00:00-03:00"),
                state(2, "2020-10-25T10:00:00-03:00"),
            ],
        },
        {"id": 8, "removedAt": None, "states": [state(2, None)]},
    ]
    chart = gantt(timelines)
    assert chart is not None
    first, second, undated = chart.bars
    assert [b.label for b in chart.bars] == ["#7 v1", "#7 v2", "#8 v2"]
    assert first.x == second.x
    assert second.width > first.width
    assert (first.removed_at, second.removed_at) == (None, "2024-02-01T00:00:00+00:00")
    assert undated.x is None
    assert gantt([]) is None
