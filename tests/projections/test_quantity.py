"""`/v1/tickets/{ticketId}/quantity` through the real app, on every backend."""

from __future__ import annotations

from typing import Any

from tests.projections.helpers import TicketApi, record

TICKET_ID = 408218
FIXTURE_TIME = "2018-04-02T13:57:04.770619"
QUANTITY = f"/v1/tickets/{TICKET_ID}/quantity"


def without(data: dict[str, Any], key: str) -> dict[str, Any]:
    return {name: value for name, value in data.items() if name != key}


def point(
    timestamp: str, version: int, quantity: int, delta: int | None, quantity_diff: int | None
) -> dict[str, Any]:
    return {
        "sourceTimestamp": f"{timestamp}+00:00",
        "version": version,
        "quantity": quantity,
        "delta": delta,
        "quantityDiff": quantity_diff,
    }


async def test_points_follow_source_time_and_skip_unchanged_quantities(
    api: TicketApi, fixture: dict[str, Any]
) -> None:
    await record(api, fixture, FIXTURE_TIME)
    await record(api, {**fixture, "quantity": 80, "quantityDiff": -20}, "2018-04-03T10:00:00")
    # Same quantity, another field changed: a new version but no new point.
    await record(api, {**fixture, "quantity": 80, "name": "Pista"}, "2018-04-04T10:00:00")
    # No quantity at all: no point, and the next delta still counts from 80.
    await record(api, without(fixture, "quantity"), "2018-04-05T10:00:00")
    await record(api, {**without(fixture, "quantityDiff"), "quantity": 120}, "2018-04-06T10:00")

    assert await api.read(QUANTITY) == {
        "ticketId": TICKET_ID,
        "points": [
            point(FIXTURE_TIME, 1, 100, None, 0),
            point("2018-04-03T10:00:00", 2, 80, -20, -20),
            point("2018-04-06T10:00:00", 5, 120, 40, None),
        ],
    }


async def test_a_late_delivery_lands_between_its_neighbours(
    api: TicketApi, fixture: dict[str, Any]
) -> None:
    await record(api, fixture, FIXTURE_TIME)
    await record(api, {**fixture, "quantity": 80, "quantityDiff": -20}, "2018-04-03T10:00:00")
    await record(api, {**fixture, "quantity": 80, "name": "Pista"}, "2018-04-05T10:00:00")
    await record(api, {**fixture, "quantity": 120, "quantityDiff": 40}, "2018-04-06T10:00:00")

    await record(api, {**fixture, "quantity": 90, "quantityDiff": 10}, "2018-04-04T10:00:00")

    # The late 90 makes the version after it (80 again) a change of its own.
    assert (await api.read(QUANTITY))["points"] == [
        point(FIXTURE_TIME, 1, 100, None, 0),
        point("2018-04-03T10:00:00", 2, 80, -20, -20),
        point("2018-04-04T10:00:00", 5, 90, 10, 10),
        point("2018-04-05T10:00:00", 3, 80, -10, 0),
        point("2018-04-06T10:00:00", 4, 120, 40, 40),
    ]


async def test_a_ticket_without_quantity_has_no_points_until_one_arrives(api: TicketApi) -> None:
    await record(api, {"id": 7, "name": "no quantity yet"}, "2024-01-01T00:00:00")
    assert await api.read("/v1/tickets/7/quantity") == {"ticketId": 7, "points": []}

    await record(api, {"id": 7, "quantity": 5}, "2024-01-02T00:00:00")
    assert (await api.read("/v1/tickets/7/quantity"))["points"] == [
        point("2024-01-02T00:00:00", 2, 5, None, None)
    ]


async def test_a_read_with_min_position_sees_the_write_just_made(
    api: TicketApi, fixture: dict[str, Any]
) -> None:
    for day, quantity in enumerate((100, 99, 98), start=10):
        position = await record(api, {**fixture, "quantity": quantity}, f"2018-04-{day}T00:00")
        answer = await api.read(QUANTITY, {"minPosition": position})
        assert answer["points"][-1]["quantity"] == quantity


async def test_unknown_ticket_is_not_found(api: TicketApi, fixture: dict[str, Any]) -> None:
    await record(api, fixture, FIXTURE_TIME)

    assert await api.read("/v1/tickets/1/quantity", status=404) == {"error": "not_found"}
    assert (await api.read("/v1/tickets/x/quantity", status=400))["error"] == "bad_request"
