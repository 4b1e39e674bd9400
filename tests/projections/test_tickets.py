"""The tickets read model through the real app: now, as of a time, as known at a time, lists."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

import pytest

from service.web import reading
from service.web.paging import encode_cursor
from tests.helpers import INTAKE, Serve, delivery, make_settings
from tests.projections.helpers import EARLY, LATE, MIDDLE, TicketApi


async def test_current_state_is_latest_by_source_time(api: TicketApi) -> None:
    first = await api.deliver(7, MIDDLE, eventId=3, quantity=10)
    late = await api.deliver(7, EARLY, eventId=3, quantity=5)

    current = await api.ticket(7)

    assert (late.version, late.position) == (2, first.position + 1)
    assert current == {
        "ticketId": 7,
        "eventId": 3,
        "version": 1,
        "position": first.position,
        "sourceTimestamp": "2024-05-17T12:00:00+00:00",
        "receivedAt": current["receivedAt"],
        "knownVia": "self",
        "snapshot": {"id": 7, "eventId": 3, "quantity": 10},
    }
    assert datetime.fromisoformat(current["receivedAt"]).utcoffset() is not None

    tie = await api.deliver(7, MIDDLE, eventId=3, quantity=7)
    current = await api.ticket(7)
    assert (current["version"], current["position"]) == (3, tie.position)
    assert current["snapshot"]["quantity"] == 7


async def test_unknown_ticket_is_not_found(api: TicketApi) -> None:
    await api.deliver(7, MIDDLE, quantity=1)
    for path in ("/v1/tickets/8", "/v1/tickets/8/children"):
        assert await api.read(path, status=404) == {"error": "not_found"}
    assert await api.read("/v1/tickets/8", {"at": LATE}, status=404) == {"error": "not_found"}


async def test_at_picks_the_latest_source_time_not_after_it(api: TicketApi) -> None:
    middle = await api.deliver(7, MIDDLE, quantity=2)
    early = await api.deliver(7, EARLY, quantity=1)
    late = await api.deliver(7, LATE, quantity=3)

    async def version_at(at: str) -> int:
        state = await api.ticket(7, at=at)
        assert state["position"] in (early.position, middle.position, late.position)
        version: int = state["version"]
        return version

    before_all = await api.read("/v1/tickets/7", {"at": "2024-05-17T09:59:59.999999"}, status=404)
    assert before_all == {"error": "not_found"}
    assert await version_at(EARLY) == early.version
    assert await version_at("2024-05-17T11:59:59.999999") == early.version
    assert await version_at(MIDDLE) == middle.version
    assert await version_at("2024-05-17T13:00:00") == middle.version
    assert await version_at("2024-05-17T15:00:00+02:00") == middle.version
    assert await version_at("2024-05-17T11:00:00-03:00") == late.version
    assert await version_at("2024-05-18") == late.version
    state = await api.ticket(7, at="2024-05-17T13:00:00Z")
    assert state["snapshot"] == {"id": 7, "quantity": 2}
    assert state["sourceTimestamp"] == "2024-05-17T12:00:00+00:00"


async def test_at_breaks_source_time_ties_by_position(api: TicketApi) -> None:
    await api.deliver(7, MIDDLE, quantity=1)
    second = await api.deliver(7, MIDDLE, quantity=2)
    state = await api.ticket(7, at=MIDDLE)
    assert (state["version"], state["position"]) == (2, second.position)


async def test_at_without_offset_is_read_in_the_source_timezone(
    serve: Serve, database_url: str
) -> None:
    settings = make_settings(database_url, source_timezone="America/Sao_Paulo")
    api = TicketApi(await serve(settings))
    await api.deliver(7, "2024-05-17T12:00:00Z", quantity=1)
    await api.deliver(7, "2024-05-17T11:00:00", quantity=2)  # 14:00 UTC

    assert (await api.ticket(7, at="2024-05-17T10:30:00"))["version"] == 1  # 13:30 UTC
    assert (await api.ticket(7, at="2024-05-17T11:00:00"))["version"] == 2
    assert (await api.ticket(7, at="2024-05-17T13:30:00+00:00"))["version"] == 1
    await api.read("/v1/tickets/7", {"at": "2024-05-17T08:59:00"}, status=404)
    current = await api.ticket(7)
    assert current["sourceTimestamp"] == "2024-05-17T11:00:00-03:00"


async def test_known_at_hides_what_was_received_later(api: TicketApi) -> None:
    early = await api.deliver(7, EARLY, quantity=1)
    await api.deliver(7, LATE, quantity=3)
    correction = await api.deliver(7, MIDDLE, quantity=2)
    received = [(await api.ticket(7, version=v))["receivedAt"] for v in (1, 2, 3)]
    moments = [datetime.fromisoformat(text) for text in received]
    assert moments[0] < moments[1] < moments[2]
    before_correction = (moments[1] + (moments[2] - moments[1]) / 2).isoformat()
    before_anything = (moments[0] - (moments[1] - moments[0])).isoformat()

    await api.read("/v1/tickets/7", {"knownAt": before_anything}, status=404)
    assert (await api.ticket(7, knownAt=received[0]))["version"] == early.version
    assert (await api.ticket(7, knownAt=before_correction))["version"] == 2
    between = "2024-05-17T13:00:00"
    assert (await api.ticket(7, at=between))["version"] == correction.version
    assert (await api.ticket(7, at=between, knownAt=before_correction))["version"] == 1
    assert (await api.ticket(7, at=between, knownAt=received[2]))["version"] == 3
    await api.read("/v1/tickets/7", {"at": between, "knownAt": before_anything}, status=404)


async def test_known_at_never_changes_its_mind_while_a_body_trickles_in(api: TicketApi) -> None:
    """A delivery is received when the log records it, not when its headers came: an answer
    as of a received time stays true after a slow body lands."""
    await api.deliver(7, EARLY, quantity=1)
    slow_body = delivery(7, timestamp=MIDDLE, quantity=2)
    server = api.client.server
    assert server.host is not None
    assert server.port is not None
    reader, writer = await asyncio.open_connection(server.host, server.port)
    head = (
        f"POST {INTAKE} HTTP/1.1\r\nHost: {server.host}\r\nConnection: close\r\n"
        f"Content-Length: {len(slow_body)}\r\n\r\n"
    ).encode()
    writer.write(head + slow_body[:10])
    await writer.drain()
    meanwhile = await api.deliver(8, EARLY, quantity=1)
    known_at = (await api.ticket(8))["receivedAt"]
    answered_then = await api.ticket(7, knownAt=known_at)
    assert answered_then["version"] == 1

    writer.write(slow_body[10:])
    response = await reader.read()
    writer.close()
    status_line, _, rest = response.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 201"), response
    slow = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert slow["position"] > meanwhile.position
    api.head = slow["position"]

    assert await api.ticket(7, knownAt=known_at) == answered_then
    versions = [
        (item["position"], datetime.fromisoformat(item["receivedAt"]))
        for ticket_id in (7, 8)
        for item in (await api.read(f"/v1/tickets/{ticket_id}/history"))["items"]
    ]
    in_log_order = [received for _, received in sorted(versions)]
    assert in_log_order == sorted(in_log_order)
    assert in_log_order[-1] > datetime.fromisoformat(known_at)


async def test_version_is_the_nth_recorded_snapshot(api: TicketApi) -> None:
    await api.deliver(7, MIDDLE, quantity=1)
    late = await api.deliver(7, EARLY, quantity=2)

    state = await api.ticket(7, version=2)
    assert (state["version"], state["position"]) == (2, late.position)
    assert state["snapshot"] == {"id": 7, "quantity": 2}
    assert state["sourceTimestamp"] == "2024-05-17T10:00:00+00:00"
    for unknown in ("3", "0", "-1"):
        await api.read("/v1/tickets/7", {"version": unknown}, status=404)


@pytest.mark.parametrize(
    "params",
    [
        {"at": "yesterday"},
        {"at": "2024-13-01"},
        {"knownAt": "not-a-time"},
        {"version": "two"},
        {"version": "1.5"},
        {"version": "1", "at": LATE},
        {"version": "1", "knownAt": LATE},
        {"version": str(2**63)},
        {"minPosition": "soon"},
        {"minPosition": str(2**64)},
    ],
)
async def test_bad_parameters_are_400_json(api: TicketApi, params: dict[str, str]) -> None:
    await api.deliver(7, MIDDLE, quantity=1)
    response = await api.client.get("/v1/tickets/7", params=params)
    body = json.loads(await response.read())
    assert response.status == 400
    assert response.content_type == "application/json"
    assert body["error"] == "bad_request"
    assert isinstance(body["detail"], str)
    for bad_id in ("seven", str(2**63), str(-(2**63) - 1)):
        answer = await api.client.get(f"/v1/tickets/{bad_id}")
        assert (answer.status, (await answer.json())["error"]) == (400, "bad_request")


async def test_list_filters_and_summaries(api: TicketApi) -> None:
    await api.deliver(1, MIDDLE, eventId=10, type="Group", name="Pista", quantity=9)
    await api.deliver(2, MIDDLE, eventId=10, type="Ticket", parent=1, name="Meia", hidden=True)
    await api.deliver(3, MIDDLE, eventId=20, type="Ticket", parent=1, salable=False)
    await api.deliver(4, MIDDLE, eventId=20, type="Ticket", available=True, archived=False)
    await api.deliver(4, EARLY, eventId=30, type="Group")  # late: not the current state

    async def ids(**params: str | int) -> list[int]:
        return [item["ticketId"] for item in await api.all_pages(params, limit=1000)]

    assert await ids() == [1, 2, 3, 4]
    assert await ids(eventId=10) == [1, 2]
    assert await ids(eventId=20) == [3, 4]
    assert await ids(eventId=30) == []
    assert await ids(type="Ticket") == [2, 3, 4]
    assert await ids(type="Group") == [1]
    assert await ids(parent=1) == [2, 3]
    assert await ids(parent=1, eventId=20, type="Ticket") == [3]
    page = await api.read("/v1/tickets", {"eventId": 10, "type": "Ticket"})
    assert page == {
        "items": [
            {
                "ticketId": 2,
                "eventId": 10,
                "name": "Meia",
                "type": "Ticket",
                "parent": 1,
                "quantity": None,
                "hidden": True,
                "archived": None,
                "salable": None,
                "available": None,
                "version": 1,
                "sourceTimestamp": "2024-05-17T12:00:00+00:00",
                "knownVia": "self",
            }
        ],
        "next": None,
    }


async def test_list_pages_walk_every_ticket_once(api: TicketApi) -> None:
    for ticket_id in (5, 3, 9, 1, 7):
        await api.deliver(ticket_id, MIDDLE, eventId=1)
    walked = await api.all_pages(limit=1)
    assert [item["ticketId"] for item in walked] == [1, 3, 5, 7, 9]
    by_two = await api.all_pages({"eventId": 1}, limit=2)
    assert by_two == walked
    first = await api.read("/v1/tickets", {"limit": 5})
    assert first["next"] is None


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "1001"},
        {"limit": "-1"},
        {"limit": "ten"},
        {"cursor": "garbage!"},
        {"cursor": "bm90LWpzb24"},  # base64 of text that is not JSON
        {"cursor": "WzFd"},  # base64 of [1]
        {"cursor": encode_cursor({"after": "x"})},
        {"cursor": encode_cursor({"after": True})},
        {"eventId": "x"},
        {"eventId": "99999999999999999999"},
        {"parent": "1.0"},
        {"parent": str(-(2**63) - 1)},
    ],
)
async def test_bad_list_parameters_are_400_json(api: TicketApi, params: dict[str, str]) -> None:
    await api.deliver(7, MIDDLE, quantity=1)
    body = await api.read("/v1/tickets", params, status=400)
    assert body["error"] == "bad_request"


async def test_children_from_a_group_and_from_parents(
    api: TicketApi, fixture_bodies: dict[str, bytes]
) -> None:
    await api.post_body(fixture_bodies["group-346868"])

    children = await api.read("/v1/tickets/346868/children")
    assert children["next"] is None
    assert [(c["ticketId"], c["knownVia"], c["name"]) for c in children["items"]] == [
        (346869, "group", "Camarote"),
        (408218, "group", "Test webhook"),
    ]
    listed = await api.all_pages(limit=1000)
    assert [(item["ticketId"], item["knownVia"]) for item in listed] == [
        (346868, "self"),
        (346869, "group"),
        (408218, "group"),
    ]
    assert [item["ticketId"] for item in await api.all_pages({"parent": 346868})] == [
        346869,
        408218,
    ]

    await api.post_body(fixture_bodies["ticket-408218"])

    children = await api.read("/v1/tickets/346868/children")
    assert [(c["ticketId"], c["knownVia"], c["name"]) for c in children["items"]] == [
        (346869, "group", "Camarote"),
        (408218, "self", "Ingresso - Pista"),
    ]
    own = await api.ticket(408218)
    assert (own["version"], own["knownVia"]) == (1, "self")
    assert (await api.read("/v1/tickets/408218/children")) == {"items": [], "next": None}


async def test_a_group_never_overrides_a_ticket_delivered_on_its_own(
    api: TicketApi, fixture_bodies: dict[str, bytes]
) -> None:
    await api.post_body(fixture_bodies["ticket-408218"])
    group = json.loads(fixture_bodies["group-346868"])
    group["timestamp"] = "2030-01-01T00:00:00"
    group["data"]["children"][1]["name"] = "Camarote VIP"
    await api.post_body(json.dumps(group).encode())

    children = (await api.read("/v1/tickets/346868/children"))["items"]
    assert [(c["ticketId"], c["knownVia"], c["name"]) for c in children] == [
        (346869, "group", "Camarote VIP"),
        (408218, "self", "Ingresso - Pista"),
    ]
    assert (await api.ticket(408218))["snapshot"]["name"] == "Ingresso - Pista"


async def test_children_follow_the_group_snapshot_that_is_current(
    api: TicketApi, fixture_bodies: dict[str, bytes]
) -> None:
    group = json.loads(fixture_bodies["group-346868"])
    await api.post_body(json.dumps(group).encode())
    earlier = {**group, "timestamp": "2018-01-01T00:00:00"}
    earlier["data"] = {**group["data"], "children": [], "quantity": 1}
    await api.post_body(json.dumps(earlier).encode())  # late: the group's current stays
    later = {**group, "timestamp": "2018-05-01T00:00:00"}
    later["data"] = {**group["data"], "children": group["data"]["children"][1:]}
    await api.post_body(json.dumps(later).encode())

    children = (await api.read("/v1/tickets/346868/children"))["items"]
    assert [(c["ticketId"], c["knownVia"]) for c in children] == [(346869, "group")]
    dropped = await api.ticket(408218)
    assert (dropped["knownVia"], dropped["version"]) == ("group", None)


async def test_min_position_beyond_the_head_is_a_bad_request_at_once(
    serve: Serve, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Were it waited for, the answer would be this long in coming, and a 503.
    monkeypatch.setattr(reading, "MIN_POSITION_WAIT_SECONDS", 600)
    api = TicketApi(await serve(make_settings(database_url)))
    recorded = await api.deliver(7, MIDDLE, quantity=1)
    beyond = recorded.position + 1
    for path in ("/v1/tickets/7", "/v1/tickets", "/v1/changes", "/v1/tickets/7/quantity"):
        response = await api.client.get(path, params={"minPosition": beyond})
        assert response.status == 400, path
        assert await response.json() == {
            "error": "bad_request",
            "detail": f"minPosition {beyond} is past the log's head ({recorded.position})",
        }
    assert (await api.ticket(7))["position"] == recorded.position


async def test_projection_status_after_a_read_of_the_head(api: TicketApi) -> None:
    await api.deliver(7, MIDDLE, quantity=1)
    await api.deliver(8, MIDDLE, quantity=1)
    await api.ticket(8)
    status = await api.read("/v1/projections")
    tickets = [entry for entry in status if entry["name"] == "tickets"]
    assert tickets == [
        {
            "name": "tickets",
            "position": api.head,
            "head": api.head,
            "lag": 0,
            "parked": 0,
            "state": "live",
        }
    ]
    assert all(
        set(entry) == {"name", "position", "head", "lag", "parked", "state"} for entry in status
    )


async def test_integers_past_64_bits_come_back_whole(api: TicketApi) -> None:
    huge = 2**70 + 1
    await api.deliver(7, MIDDLE, eventId=3, quantity=huge, price=-huge)

    status, body = await api.raw("/v1/tickets/7")

    assert status == 200
    snapshot = json.loads(body)["snapshot"]
    assert (snapshot["quantity"], snapshot["price"]) == (huge, -huge)


async def test_children_are_a_page_like_every_list(api: TicketApi) -> None:
    await api.deliver(1, MIDDLE, children=[{"id": 4}, {"id": 2}])
    await api.deliver(3, MIDDLE, parent=1)
    await api.deliver(5, MIDDLE, parent=1)

    seen: list[int] = []
    query: dict[str, str | int] = {"limit": 2}
    while True:
        page = await api.read("/v1/tickets/1/children", query)
        assert set(page) == {"items", "next"}
        assert len(page["items"]) <= 2
        seen += [child["ticketId"] for child in page["items"]]
        if page["next"] is None:
            break
        query["cursor"] = page["next"]

    assert seen == [2, 3, 4, 5]
    for after in (True, 2**63, "2"):
        wrong = {"cursor": encode_cursor({"after": after})}
        for path in ("/v1/tickets/1/children", "/v1/tickets"):
            assert (await api.read(path, wrong, status=400))["error"] == "bad_request"
    assert (await api.read("/v1/tickets/1/children", {"limit": 0}, status=400))["error"]


async def test_children_sent_as_an_empty_object_are_none(api: TicketApi) -> None:
    await api.deliver(1, EARLY, children=[{"id": 2}])
    await api.deliver(1, MIDDLE, children={})

    assert await api.read("/v1/tickets/1/children") == {"items": [], "next": None}
    assert (await api.ticket(1))["snapshot"]["children"] == {}
