"""The sale-periods read model's `apply`, read back through `sale_period_queries`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from projections.sale_periods.projection import SalePeriodsProjection
from projections.sale_periods.queries import sale_period_timelines
from tests.projections.helpers import FINISH, START, period
from tests.projections.unit.helpers import Apply, Log, iso, read_model

LATER = "2020-10-30"


@pytest.fixture
def sale_periods(tmp_path: Path, log: Log) -> Iterator[SalePeriodsProjection]:
    with read_model(SalePeriodsProjection, tmp_path, log) as projection:
        yield projection


def state(minute: int, version: int, *, finish: str = FINISH, available: bool = True) -> Any:
    return {
        "sourceTimestamp": iso(minute),
        "version": version,
        "start": START,
        "finish": finish,
        "available": available,
    }


def timelines(sale_periods: SalePeriodsProjection) -> list[dict[str, Any]] | None:
    return sale_period_timelines(sale_periods.view, 7)


def test_periods_are_added_changed_removed_and_come_back(
    sale_periods: SalePeriodsProjection, log: Log, apply: Apply
) -> None:
    moved, closed = period(1, finish=LATER), period(2, available=False)
    apply(
        sale_periods,
        [
            log.change(7, 0, salePeriods=[period(1)]),
            log.change(7, 10, salePeriods=[period(1), period(2)]),
            log.change(7, 20, salePeriods=[moved, closed]),
            log.change(7, 30, salePeriods=[closed]),
            # No salePeriods field: nothing is removed and nothing changes.
            log.change(7, 40, name="Pista"),
        ],
    )

    assert timelines(sale_periods) == [
        {
            "id": 1,
            "appCategoryId": 1,
            "current": None,
            "firstSeen": iso(0),
            "removedAt": iso(30),
            "states": [state(0, 1), state(20, 3, finish=LATER)],
        },
        {
            "id": 2,
            "appCategoryId": 1,
            "current": {"start": START, "finish": FINISH, "available": False},
            "firstSeen": iso(10),
            "removedAt": None,
            "states": [state(10, 2), state(20, 3, available=False)],
        },
    ]

    apply(
        sale_periods, [log.change(7, 50, salePeriods=[closed, period(1, finish=LATER, category=3)])]
    )

    # Back with the values it left with: still a state, so the return shows in the timeline.
    back = (timelines(sale_periods) or [])[0]
    assert (back["appCategoryId"], back["removedAt"], back["states"][-1]) == (
        3,
        None,
        state(50, 6, finish=LATER),
    )


def test_an_empty_list_removes_every_period(
    sale_periods: SalePeriodsProjection, log: Log, apply: Apply
) -> None:
    apply(
        sale_periods,
        [log.change(7, 0, salePeriods=[period(1), period(2)]), log.change(7, 10, salePeriods=[])],
    )

    assert [(t["id"], t["current"], t["removedAt"]) for t in timelines(sale_periods) or []] == [
        (1, None, iso(10)),
        (2, None, iso(10)),
    ]


def test_a_late_delivery_takes_its_place_in_the_timeline(
    sale_periods: SalePeriodsProjection, log: Log, apply: Apply
) -> None:
    apply(
        sale_periods,
        [
            log.change(7, 0, salePeriods=[period(1)]),
            log.change(7, 20, salePeriods=[period(1, finish=LATER)]),
            # Late: it removed period 1 and added 2 between the two above.
            log.change(7, 10, salePeriods=[period(2)]),
        ],
    )

    assert timelines(sale_periods) == [
        {
            "id": 1,
            "appCategoryId": 1,
            "current": {"start": START, "finish": LATER, "available": True},
            "firstSeen": iso(0),
            "removedAt": None,
            "states": [state(0, 1), state(20, 2, finish=LATER)],
        },
        {
            "id": 2,
            "appCategoryId": 1,
            "current": None,
            "firstSeen": iso(10),
            "removedAt": iso(20),
            "states": [state(10, 3)],
        },
    ]
    assert sale_period_timelines(sale_periods.view, 8) is None
