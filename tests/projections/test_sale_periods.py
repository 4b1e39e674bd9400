"""`/v1/tickets/{ticketId}/sale-periods` through the real app, on every backend."""

from __future__ import annotations

from typing import Any

import pytest

from tests.projections.helpers import FINISH, START, TicketApi, period, record

TICKET_ID = 408218
FIXTURE_TIME = "2018-04-02T13:57:04.770619"
LATER_FINISH = "2020-10-30T10:20:00-03:00"


async def with_periods(
    api: TicketApi, fixture: dict[str, Any], timestamp: str, *periods: dict[str, Any]
) -> int:
    return await record(api, {**fixture, "salePeriods": list(periods)}, timestamp)


async def timelines(api: TicketApi, **params: str | int) -> list[dict[str, Any]]:
    answer = await api.read(f"/v1/tickets/{TICKET_ID}/sale-periods", params)
    assert answer["ticketId"] == TICKET_ID
    periods: list[dict[str, Any]] = answer["salePeriods"]
    return periods


def state(
    timestamp: str, version: int, *, finish: str = FINISH, available: bool = True
) -> dict[str, Any]:
    return {
        "sourceTimestamp": f"{timestamp}+00:00",
        "version": version,
        "start": START,
        "finish": finish,
        "available": available,
    }


def now(*, finish: str = FINISH, available: bool = True) -> dict[str, Any]:
    return {"start": START, "finish": finish, "available": available}


async def test_periods_are_added_changed_removed_and_come_back(
    api: TicketApi, fixture: dict[str, Any]
) -> None:
    moved, closed = period(70127, finish=LATER_FINISH), period(70128, available=False)
    await record(api, fixture, FIXTURE_TIME)
    await with_periods(api, fixture, "2018-04-03T00:00:00", period(70127), period(70128))
    await with_periods(api, fixture, "2018-04-04T00:00:00", moved, period(70128))
    await with_periods(api, fixture, "2018-04-05T00:00:00", moved, closed)
    await with_periods(api, fixture, "2018-04-06T00:00:00", closed)
    # No salePeriods field: nothing is removed and nothing changes.
    unsent = {key: value for key, value in fixture.items() if key != "salePeriods"}
    await record(api, {**unsent, "name": "Pista"}, "2018-04-07T00:00:00")

    assert await timelines(api) == [
        {
            "id": 70127,
            "appCategoryId": 1,
            "current": None,
            "firstSeen": f"{FIXTURE_TIME}+00:00",
            "removedAt": "2018-04-06T00:00:00+00:00",
            "states": [
                state(FIXTURE_TIME, 1),
                state("2018-04-04T00:00:00", 3, finish=LATER_FINISH),
            ],
        },
        {
            "id": 70128,
            "appCategoryId": 1,
            "current": now(available=False),
            "firstSeen": "2018-04-03T00:00:00+00:00",
            "removedAt": None,
            "states": [
                state("2018-04-03T00:00:00", 2),
                state("2018-04-05T00:00:00", 4, available=False),
            ],
        },
    ]

    back = period(70127, finish=LATER_FINISH, category=3)
    await with_periods(api, fixture, "2018-04-08T00:00:00", closed, back)

    # Back with the values it left with: still a state, so the return shows in the timeline.
    assert (await timelines(api))[0] == {
        "id": 70127,
        "appCategoryId": 3,
        "current": now(finish=LATER_FINISH),
        "firstSeen": f"{FIXTURE_TIME}+00:00",
        "removedAt": None,
        "states": [
            state(FIXTURE_TIME, 1),
            state("2018-04-04T00:00:00", 3, finish=LATER_FINISH),
            state("2018-04-08T00:00:00", 7, finish=LATER_FINISH),
        ],
    }


@pytest.mark.parametrize("empty", [[], {}])
async def test_an_empty_list_removes_every_period(
    api: TicketApi, fixture: dict[str, Any], empty: object
) -> None:
    await record(api, fixture, FIXTURE_TIME)
    await record(api, {**fixture, "salePeriods": empty}, "2018-04-03T00:00:00")

    (only,) = await timelines(api)

    assert only["current"] is None
    assert only["removedAt"] == "2018-04-03T00:00:00+00:00"
    assert only["states"] == [state(FIXTURE_TIME, 1)]


async def test_a_late_delivery_takes_its_place_in_the_timeline(
    api: TicketApi, fixture: dict[str, Any]
) -> None:
    await record(api, fixture, FIXTURE_TIME)
    await with_periods(api, fixture, "2018-04-04T00:00:00", period(70127), period(70128))

    # Recorded last, sent in between: 70127 was briefly unavailable and 70128 existed earlier.
    unavailable = period(70127, available=False)
    await with_periods(api, fixture, "2018-04-03T00:00:00", unavailable, period(70128))
    first, second = await timelines(api)

    assert first["states"] == [
        state(FIXTURE_TIME, 1),
        state("2018-04-03T00:00:00", 3, available=False),
        state("2018-04-04T00:00:00", 2),
    ]
    assert first["current"] == now()
    assert second["firstSeen"] == "2018-04-03T00:00:00+00:00"
    assert second["states"] == [state("2018-04-03T00:00:00", 3)]


async def test_a_late_delivery_after_a_removal_does_not_bring_a_period_back(
    api: TicketApi, fixture: dict[str, Any]
) -> None:
    await record(api, fixture, FIXTURE_TIME)
    await with_periods(api, fixture, "2018-04-05T00:00:00")

    await with_periods(api, fixture, "2018-04-03T00:00:00", period(70127, available=False))
    (only,) = await timelines(api)

    assert only["current"] is None
    assert only["removedAt"] == "2018-04-05T00:00:00+00:00"
    assert only["states"][-1] == state("2018-04-03T00:00:00", 3, available=False)


async def test_timelines_are_ordered_by_first_sighting_then_id(
    api: TicketApi, fixture: dict[str, Any]
) -> None:
    await with_periods(api, fixture, "2018-04-03T00:00:00", period(9))
    await with_periods(api, fixture, "2018-04-04T00:00:00", period(9), period(5), period(1))

    assert [timeline["id"] for timeline in await timelines(api)] == [9, 1, 5]


async def test_a_read_with_min_position_sees_the_write_just_made(
    api: TicketApi, fixture: dict[str, Any]
) -> None:
    for day, available in enumerate((True, False, True), start=10):
        position = await with_periods(
            api, fixture, f"2018-04-{day}T00:00", period(1, available=available)
        )
        (only,) = await timelines(api, minPosition=position)
        assert only["current"] == now(available=available)


async def test_unknown_ticket_is_not_found(api: TicketApi, fixture: dict[str, Any]) -> None:
    await record(api, fixture, FIXTURE_TIME)

    assert await api.read("/v1/tickets/1/sale-periods", status=404) == {"error": "not_found"}
    assert (await api.read("/v1/tickets/x/sale-periods", status=400))["error"] == "bad_request"
