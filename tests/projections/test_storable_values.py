"""Whatever intake accepts, every read model holds: each stored field at its limit and beyond.

A value at a column's limit is recorded, projected by every read model and read back through
the API; a value beyond it is refused at intake (422, quarantined) or kept in a form that
holds it. Every read waits for its projection with `minPosition`, so a projection that could
not store a row would answer 503 here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.projections.helpers import EARLY, LATE, MIDDLE, TicketApi

BIGINT_EDGES = [2**63 - 1, -(2**63)]
BEYOND_BIGINT = [2**63, -(2**63) - 1]
HUGE = 2**80
NUL = "\u0000"


async def read_every_route(api: TicketApi, ticket_id: int) -> dict[str, Any]:
    """Each ticket route's answer, every read model having applied every delivery."""
    answers = {
        route: await api.read(f"/v1/tickets/{ticket_id}{route}")
        for route in ("", "/history", "/quantity", "/sale-periods", "/children")
    }
    answers["changes"] = await api.read("/v1/changes", {"ticketId": ticket_id})
    projections = await api.read("/v1/projections")
    assert {p["state"] for p in projections} == {"live"}, projections
    return answers


async def rejected(api: TicketApi, body: bytes) -> list[dict[str, Any]]:
    """The field errors of a delivery that must be refused, after checking it is quarantined."""
    response = await api.client.post("/webhooks/ingresse", data=body)
    answer = json.loads(await response.read())
    assert (response.status, answer["error"]) == (422, "invalid_payload"), answer
    quarantined = await api.read("/v1/quarantine", {"limit": 1})
    item = await api.read(f"/v1/quarantine/{quarantined['items'][0]['id']}")
    assert (item["error"], item["detail"], item["body"]) == (
        "invalid_payload",
        answer["detail"],
        body.decode(),
    )
    errors: list[dict[str, Any]] = answer["detail"]
    return errors


def envelope(data: dict[str, Any], timestamp: str = MIDDLE) -> bytes:
    return json.dumps({"webhook": "ticket", "data": data, "timestamp": timestamp}).encode()


@pytest.mark.parametrize("edge", BIGINT_EDGES)
async def test_every_identifier_at_the_64_bit_edge_is_projected(api: TicketApi, edge: int) -> None:
    other = -edge - 1  # the opposite edge
    await api.post_body(
        envelope(
            {
                "id": edge,
                "eventId": edge,
                "parent": other,
                "salePeriods": [{"id": edge, "appCategoryId": other}],
                "children": [{"id": other, "eventId": other, "parent": edge}, {"id": 1}],
            }
        )
    )

    answers = await read_every_route(api, edge)

    assert (answers[""]["ticketId"], answers[""]["eventId"]) == (edge, edge)
    assert answers[""]["snapshot"]["parent"] == other
    period = answers["/sale-periods"]["salePeriods"][0]
    assert (period["id"], period["appCategoryId"]) == (edge, other)
    children = answers["/children"]["items"]
    assert [(c["ticketId"], c["eventId"], c["parent"]) for c in children] == sorted(
        [(other, other, edge), (1, None, None)]
    )
    by_event = await api.read("/v1/tickets", {"eventId": other})
    assert [item["ticketId"] for item in by_event["items"]] == [other]
    by_parent = await api.read("/v1/tickets", {"parent": other})
    assert [item["ticketId"] for item in by_parent["items"]] == [edge]


FIELDS_IN_BIGINT_COLUMNS: dict[str, Callable[[int], dict[str, Any]]] = {
    "id": lambda n: {"id": n},
    "eventId": lambda n: {"id": 1, "eventId": n},
    "parent": lambda n: {"id": 1, "parent": n},
    "children.id": lambda n: {"id": 1, "children": [{"id": n}]},
    "children.eventId": lambda n: {"id": 1, "children": [{"id": 2, "eventId": n}]},
    "children.parent": lambda n: {"id": 1, "children": [{"id": 2, "parent": n}]},
    "salePeriods.id": lambda n: {"id": 1, "salePeriods": [{"id": n}]},
}


@pytest.mark.parametrize("beyond", BEYOND_BIGINT)
@pytest.mark.parametrize("field", FIELDS_IN_BIGINT_COLUMNS)
async def test_an_identifier_beyond_64_bits_is_refused_and_quarantined(
    api: TicketApi, field: str, beyond: int
) -> None:
    body = envelope(FIELDS_IN_BIGINT_COLUMNS[field](beyond))

    errors = await rejected(api, body)

    name = field.split(".")[-1]
    loc = ["data", name] if "." not in field else ["data", field.split(".")[0], 0, name]
    assert errors == [{"loc": loc, "msg": "must fit in a signed 64-bit integer"}]
    # Nothing was recorded, and every read model still follows the log.
    await api.deliver(7, MIDDLE, quantity=1)
    await read_every_route(api, 7)


async def test_numbers_stored_as_json_text_hold_any_size(api: TicketApi) -> None:
    await api.deliver(9, EARLY, quantity=-HUGE, quantityDiff=HUGE, order=HUGE)
    await api.deliver(
        9,
        MIDDLE,
        quantity=HUGE,
        quantityDiff=-HUGE,
        value={"price": HUGE, "fee": 1.7976931348623157e308, "tiny": 5e-324},
        salePeriods=[{"id": 1, "appCategoryId": HUGE, "available": HUGE}],
    )

    answers = await read_every_route(api, 9)

    points = answers["/quantity"]["points"]
    assert [(p["quantity"], p["delta"], p["quantityDiff"]) for p in points] == [
        (-HUGE, None, HUGE),
        (HUGE, 2 * HUGE, -HUGE),
    ]
    assert answers[""]["snapshot"]["value"]["price"] == HUGE
    period = answers["/sale-periods"]["salePeriods"][0]
    assert (period["appCategoryId"], period["current"]["available"]) == (HUGE, HUGE)
    changes = {c["path"]: c["new"] for c in answers["/history"]["items"][1]["changes"]}
    assert (changes["quantity"], changes["value"]) == (HUGE, answers[""]["snapshot"]["value"])


async def test_a_float_beyond_double_precision_is_malformed(api: TicketApi) -> None:
    body = envelope({"id": 1}).replace(b'"id": 1', b'"id": 1, "value": {"price": 1e400}')
    response = await api.client.post("/webhooks/ingresse", data=body)
    assert (response.status, (await response.json())["error"]) == (400, "malformed_json")


async def test_nul_in_keys_and_strings_is_projected_on_every_backend(api: TicketApi) -> None:
    key = f"k{NUL}"
    await api.deliver(5, EARLY, name=f"a{NUL}b", type=f"x{NUL}", attributes={key: 1})
    later = {"name": f"a{NUL}c", "type": f"x{NUL}", "attributes": {key: 2, NUL: 3}}
    await api.deliver(5, MIDDLE, **later)
    tags = [{"id": NUL, "v": 2}]
    await api.deliver(5, LATE, **later, **{NUL: {NUL: NUL}}, tags=tags)
    await api.deliver(5, "2024-05-17T15:00:00", **later, **{NUL: {NUL: NUL}}, tags=[{"id": NUL}])

    answers = await read_every_route(api, 5)

    assert answers[""]["snapshot"][NUL] == {NUL: NUL}
    paths = [[c["path"] for c in item["changes"]] for item in answers["/history"]["items"]]
    assert paths == [
        [],
        ["name", 'attributes["k\\u0000"]', 'attributes["\\u0000"]'],
        ['["\\u0000"]', "tags"],
        ['tags[id="\\u0000"].v'],
    ]
    assert [c["path"] for c in answers["changes"]["items"]] == paths[1] + paths[2] + paths[3]
    for spelling in ('attributes["k\\u0000"]', f"attributes.{key}"):
        kept = await api.read("/v1/changes", {"ticketId": 5, "path": spelling})
        assert [(c["old"], c["new"]) for c in kept["items"]] == [(1, 2)]
    listed = await api.read("/v1/tickets", {"type": f"x{NUL}"})
    assert [(item["ticketId"], item["name"]) for item in listed["items"]] == [(5, f"a{NUL}c")]


async def test_a_refused_delivery_naming_a_nul_key_is_quarantined(api: TicketApi) -> None:
    errors = await rejected(api, envelope({"id": 1, "value": {f"p{NUL}": "x"}}))

    assert errors == [{"loc": ["data", "value", f"p{NUL}"], "msg": "must be a number"}]


@pytest.mark.parametrize(
    "timestamp", ["0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59.999999-23:59"]
)
async def test_source_times_at_the_edge_of_iso_8601_are_projected(
    api: TicketApi, timestamp: str
) -> None:
    await api.deliver(3, timestamp, quantity=1)

    answers = await read_every_route(api, 3)

    assert answers[""]["sourceTimestamp"] == timestamp
    assert answers["/quantity"]["points"][0]["sourceTimestamp"] == timestamp


async def test_a_source_time_beyond_the_year_9999_is_refused(api: TicketApi) -> None:
    errors = await rejected(api, envelope({"id": 1}, timestamp="10000-01-01T00:00:00"))

    assert errors == [{"loc": ["timestamp"], "msg": "must be an ISO 8601 date-time string"}]
