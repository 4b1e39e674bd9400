"""The webhook intake rules of the contract, through the real app, on every backend."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from tests.helpers import (
    INTAKE,
    SOURCE_TIME,
    Client,
    Serve,
    compact,
    delivery,
    get_json,
    head_position,
    json_body,
    make_settings,
    post,
)

TICKET = "ticket-408218"
GROUP = "group-346868"
QUARANTINED_HEAD = 64 * 1024
LIMIT = 100_000


def sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def envelope(data: dict[str, Any], timestamp: str = SOURCE_TIME) -> bytes:
    return json.dumps({"webhook": "ticket", "data": data, "timestamp": timestamp}).encode()


def ticket_data(fixture_bodies: dict[str, bytes]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(fixture_bodies[TICKET])["data"]
    return data


def reversed_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: reversed_keys(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [reversed_keys(item) for item in value]
    return value


def sized_delivery(size: int) -> bytes:
    """A valid delivery exactly `size` bytes long."""
    bare = len(delivery(7, note=""))
    body = delivery(7, note="x" * (size - bare))
    assert len(body) == size
    return body


async def quarantine_items(client: Client) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await get_json(client, "/v1/quarantine"))["items"]
    return items


async def test_fixtures_are_recorded_a_resend_is_a_duplicate_and_a_change_is_version_2(
    serve: Serve, database_url: str, fixture_bodies: dict[str, bytes]
) -> None:
    client = await serve(make_settings(database_url))

    answers = [await post(client, body) for body in fixture_bodies.values()]
    again = await post(client, fixture_bodies[GROUP])
    changed = ticket_data(fixture_bodies)
    changed["salePeriods"][0]["available"] = False
    second_version = await post(client, envelope(changed))

    assert answers == [
        (
            201,
            {
                "status": "recorded",
                "ticketId": json.loads(body)["data"]["id"],
                "version": 1,
                "position": position,
                "deliveryId": sha256(body),
            },
        )
        for position, body in enumerate(fixture_bodies.values(), start=1)
    ]
    assert again == (200, {"status": "duplicate", "ticketId": 346868, "version": 1, "position": 1})
    assert second_version == (
        201,
        {
            "status": "recorded",
            "ticketId": 408218,
            "version": 2,
            "position": 3,
            "deliveryId": sha256(envelope(changed)),
        },
    )
    assert await head_position(client) == 3


def _key_order(data: dict[str, Any]) -> tuple[bytes, bytes]:
    return envelope(data), envelope(reversed_keys(data))


def _integral_floats(data: dict[str, Any]) -> tuple[bytes, bytes]:
    floats = copy.deepcopy(data)
    floats["value"] = {name: float(amount) for name, amount in data["value"].items()}
    floats["salePeriods"][0]["appCategoryId"] = 1.0
    return envelope(data), envelope(floats)


def _empty_list_for_empty_object(data: dict[str, Any]) -> tuple[bytes, bytes]:
    return envelope({**data, "attributes": {}}), envelope({**data, "attributes": []})


def _empty_object_for_empty_list(data: dict[str, Any]) -> tuple[bytes, bytes]:
    return envelope({**data, "triggers": {"soldout": [], "start": []}}), envelope(
        {**data, "triggers": {"soldout": {}, "start": {}}}
    )


def _envelope_timestamp(data: dict[str, Any]) -> tuple[bytes, bytes]:
    return envelope(data), envelope(data, timestamp="2024-06-01T08:00:00-03:00")


EQUAL_DATA_PAIRS = [
    _key_order,
    _integral_floats,
    _empty_list_for_empty_object,
    _empty_object_for_empty_list,
    _envelope_timestamp,
]


async def test_equal_data_in_other_bytes_is_a_duplicate(
    serve: Serve, database_url: str, fixture_bodies: dict[str, bytes]
) -> None:
    client = await serve(make_settings(database_url))

    for position, make_pair in enumerate(EQUAL_DATA_PAIRS, start=1):
        # A ticket of its own per case, so each compares against its own first version.
        ticket_id = 500 + position
        first, second = make_pair({**ticket_data(fixture_bodies), "id": ticket_id})
        assert first != second
        case = make_pair.__name__

        assert (await post(client, first))[0] == 201, case
        answer = await post(client, second)

        expected = {"status": "duplicate", "ticketId": ticket_id, "version": 1}
        assert answer == (200, {**expected, "position": position}), case
        # Only recorded deliveries are kept; the duplicate's bytes were not.
        await get_json(client, f"/v1/deliveries/{sha256(second)}", status=404)
    assert await head_position(client) == len(EQUAL_DATA_PAIRS)


async def test_duplicates_compare_against_the_highest_version_only(
    serve: Serve, database_url: str
) -> None:
    client = await serve(make_settings(database_url))
    first = delivery(11, quantity=5, timestamp="2024-05-17T10:00:00")
    second = delivery(11, quantity=6, timestamp="2024-05-17T11:00:00")
    first_data_again = delivery(11, quantity=5, timestamp="2024-05-17T12:00:00")

    await post(client, first)
    await post(client, second)
    status, body = await post(client, first_data_again)

    assert (status, body["version"], body["position"]) == (201, 3, 3)
    assert await post(client, first_data_again) == (
        200,
        {"status": "duplicate", "ticketId": 11, "version": 3, "position": 3},
    )


async def test_an_exact_resend_of_an_older_delivery_names_its_own_event(
    serve: Serve, database_url: str
) -> None:
    # The same bytes are the same delivery (its id is their hash): a relay retrying it
    # late must not grow the ticket's history, and its deliveryId keeps naming one event.
    client = await serve(make_settings(database_url))
    first = delivery(12, quantity=5)
    await post(client, first)
    await post(client, delivery(12, quantity=6))

    answer = await post(client, first)

    assert answer == (200, {"status": "duplicate", "ticketId": 12, "version": 1, "position": 1})
    assert await head_position(client) == 2


def reserialised(body: bytes, form: int) -> bytes:
    """`body` as a relay might send it on: the same JSON value in other bytes, one of many
    spellings (key order, whitespace, `1` vs `1.0`, `[]` vs `{}`)."""
    document = json.loads(body)
    if form % 2:
        document = reversed_keys(document)
    if form % 3 == 1:
        document["data"]["value"] = {k: float(v) for k, v in document["data"]["value"].items()}
    if form % 4 == 1:
        document["data"]["attributes"] = {} if document["data"]["attributes"] == [] else []
    return json.dumps(
        document, indent=form % 5 or None, separators=(",", ": " if form % 2 else ":")
    ).encode()


async def test_a_reserialised_resend_of_an_older_delivery_names_its_own_event(
    serve: Serve, database_url: str
) -> None:
    # A relay's retry is the same delivery in other bytes: it must not become a late version.
    client = await serve(make_settings(database_url))
    first = delivery(13, quantity=5, value={"price": 10}, attributes=[])
    await post(client, first)
    await post(client, delivery(13, quantity=6, value={"price": 10}, attributes=[]))

    for form in range(1, 6):
        retry = reserialised(first, form)
        assert retry != first
        answer = await post(client, retry)
        assert answer == (200, {"status": "duplicate", "ticketId": 13, "version": 1, "position": 1})
    # Its content, not its data alone: the same data sent at another time is a new version.
    other_time = delivery(
        13, timestamp="2024-05-18T10:00:00", quantity=5, value={"price": 10}, attributes=[]
    )
    assert (await post(client, other_time))[0] == 201
    assert await head_position(client) == 3


async def test_concurrent_resends_in_other_bytes_record_one_event(
    serve: Serve, database_url: str
) -> None:
    client = await serve(make_settings(database_url))
    older = delivery(14, quantity=1, value={"price": 10}, attributes=[])
    await post(client, older)
    await post(client, delivery(14, quantity=2, value={"price": 10}, attributes=[]))
    fresh = delivery(
        14, timestamp="2024-05-19T10:00:00", quantity=3, value={"price": 9}, attributes={}
    )

    answers = await asyncio.gather(
        *(post(client, reserialised(body, form)) for form in range(20) for body in (older, fresh))
    )

    recorded = [body for status, body in answers if status == 201]
    assert len(recorded) == 1
    assert (recorded[0]["version"], recorded[0]["position"]) == (3, 3)
    duplicates = {(body["version"], body["position"]) for status, body in answers if status == 200}
    assert duplicates == {(1, 1), (3, 3)}
    assert len(answers) == 40
    assert await head_position(client) == 3


MALFORMED_BODIES = [
    b'{"webhook": "ticket", "data": {"id": 1}',
    b"",
    b"  \r\n",
    b"[1, 2]",
    b'"ticket"',
    b'{"webhook": "ticket", "data": {"id": 1, "name": "caf\xe9"}, "timestamp": "2024-05-17"}',
    b'{"webhook": "ticket", "data": {"id": 1, "n": NaN}, "timestamp": "2024-05-17"}',
]


async def test_malformed_json_is_400_with_a_detail(serve: Serve, database_url: str) -> None:
    client = await serve(make_settings(database_url))

    for body in MALFORMED_BODIES:
        status, answer = await post(client, body)

        assert status == 400, body
        assert answer["error"] == "malformed_json", body
        assert set(answer) == {"error", "detail"}, body
        assert isinstance(answer["detail"], str), body
        assert answer["detail"], body
    assert await head_position(client) == 0


INVALID_PAYLOADS: list[tuple[str, dict[str, Any], list[list[str | int]]]] = [
    ("no webhook", {"data": {"id": 1}, "timestamp": SOURCE_TIME}, [["webhook"]]),
    (
        "nothing",
        {},
        [["webhook"], ["timestamp"], ["data"]],
    ),
    (
        "webhook not a string",
        {"webhook": 1, "data": {"id": 1}, "timestamp": SOURCE_TIME},
        [["webhook"]],
    ),
    (
        "timestamp not ISO",
        {"webhook": "ticket", "data": {"id": 1}, "timestamp": "yesterday"},
        [["timestamp"]],
    ),
    (
        "data not an object",
        {"webhook": "ticket", "data": [1], "timestamp": SOURCE_TIME},
        [["data"]],
    ),
    ("no ticket id", {"webhook": "ticket", "data": {}, "timestamp": SOURCE_TIME}, [["data", "id"]]),
    (
        "ticket id a string",
        {"webhook": "ticket", "data": {"id": "1"}, "timestamp": SOURCE_TIME},
        [["data", "id"]],
    ),
    (
        "typed fields",
        {
            "webhook": "ticket",
            "timestamp": SOURCE_TIME,
            "data": {
                "id": 1,
                "eventId": "24724",
                "parent": 1.5,
                "quantity": "100",
                "quantityDiff": True,
                "order": None,
                "salePeriods": [{"id": 70127}, {"id": "x"}, {"start": "2020"}, 3],
                "children": {"id": 2},
                "value": {"price": "10", "feeSale": 1},
                "eventDates": [{"id": 1}, "2019-10-10"],
            },
        },
        [
            ["data", "eventId"],
            ["data", "parent"],
            ["data", "quantity"],
            ["data", "quantityDiff"],
            ["data", "order"],
            ["data", "salePeriods", 1, "id"],
            ["data", "salePeriods", 2, "id"],
            ["data", "salePeriods", 3],
            ["data", "children"],
            ["data", "eventDates", 1],
            ["data", "value", "price"],
        ],
    ),
    # Fields are checked before the webhook kind, so a bad order delivery is invalid_payload.
    (
        "other webhook with bad fields",
        {"webhook": "order", "data": {}, "timestamp": SOURCE_TIME},
        [["data", "id"]],
    ),
]


async def test_invalid_fields_are_422_with_their_locations(serve: Serve, database_url: str) -> None:
    client = await serve(make_settings(database_url))

    for case, document, locations in INVALID_PAYLOADS:
        status, answer = await post(client, json.dumps(document).encode())

        assert status == 422, case
        assert answer["error"] == "invalid_payload", case
        found = sorted(map(str, (item["loc"] for item in answer["detail"])))
        assert found == sorted(map(str, locations)), case
        assert all(isinstance(item["msg"], str) and item["msg"] for item in answer["detail"])
    assert await head_position(client) == 0

    # Every other field is free-form, and a date alone is a timestamp.
    document = {
        "webhook": "ticket",
        "timestamp": "2024-05-17",
        "data": {
            "id": 1,
            "parent": None,
            "attributes": [],
            "anything": {"nested": [1, "two", None]},
            "value": {"price": 10.5, "feeSale": 0},
        },
    }

    assert (await post(client, json.dumps(document).encode()))[0] == 201


async def test_the_size_limit_with_and_without_a_content_length(
    serve: Serve, database_url: str
) -> None:
    client = await serve(make_settings(database_url, max_body_bytes=LIMIT))
    too_large = (413, {"error": "payload_too_large", "limit": LIMIT})

    assert (await post(client, sized_delivery(LIMIT)))[0] == 201
    assert await post(client, sized_delivery(LIMIT + 1)) == too_large

    # Not JSON either: size is judged before parsing.
    declared = bytes(range(48, 58)) * 20_000
    assert await post(client, declared) == too_large
    item = (await quarantine_items(client))[0]
    kept = await get_json(client, f"/v1/quarantine/{item['id']}")
    assert (kept["error"], kept["size"], item["size"]) == (
        "payload_too_large",
        len(declared),
        len(declared),
    )
    assert kept["body"] == declared[:QUARANTINED_HEAD].decode()

    chunk = b"0123456789" * 2_000

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield chunk

    # No Content-Length: the body arrives chunked and is measured as it is read.
    response = await client.post(INTAKE, data=chunks())
    assert (response.status, await json_body(response)) == too_large
    item = (await quarantine_items(client))[0]
    kept = await get_json(client, f"/v1/quarantine/{item['id']}")
    assert kept["error"] == "payload_too_large"
    assert kept["body"] == (chunk * 10)[:QUARANTINED_HEAD].decode()
    # The service stops reading past the limit, so the size it keeps is what it read:
    # more than the limit, at most the whole body.
    assert LIMIT < kept["size"] <= len(chunk) * 10
    assert len(await quarantine_items(client)) == 3
    assert await head_position(client) == 1


async def test_too_large_body_arriving_in_pieces_still_keeps_its_first_64_kib(
    serve: Serve, database_url: str
) -> None:
    client = await serve(make_settings(database_url, max_body_bytes=LIMIT))
    piece = b"0123456789" * 1_000
    pieces = 20

    async def trickle() -> AsyncIterator[bytes]:
        for _ in range(pieces):
            yield piece
            # Senders on slow links deliver a body in several reads.
            await asyncio.sleep(0.01)

    response = await client.post(
        INTAKE, data=trickle(), headers={"Content-Length": str(len(piece) * pieces)}
    )

    assert response.status == 413
    (item,) = await quarantine_items(client)
    kept = await get_json(client, f"/v1/quarantine/{item['id']}")
    assert kept["size"] == len(piece) * pieces
    assert len(kept["body"]) == QUARANTINED_HEAD
    assert kept["body"] == (piece * pieces)[:QUARANTINED_HEAD].decode()


async def test_content_type_is_not_required(
    serve: Serve, database_url: str, fixture_bodies: dict[str, bytes]
) -> None:
    client = await serve(make_settings(database_url))
    content_types = [None, "text/plain", "application/x-www-form-urlencoded", "application/json"]

    for ticket_id, content_type in enumerate(content_types, start=1):
        headers = {"Content-Type": content_type} if content_type else {}
        response = await client.post(
            INTAKE,
            data=envelope({**ticket_data(fixture_bodies), "id": ticket_id}),
            headers=headers,
            skip_auto_headers=() if content_type else ("Content-Type",),
        )

        assert response.status == 201, (content_type, await response.text())


async def test_every_rejected_delivery_is_quarantined_as_answered_and_appends_nothing(
    serve: Serve, database_url: str, fixture_bodies: dict[str, bytes]
) -> None:
    client = await serve(make_settings(database_url, max_body_bytes=LIMIT))
    await post(client, fixture_bodies[TICKET])
    rejected = [
        b'{"webhook": "ticket", "data": ',
        json.dumps({"webhook": "ticket", "data": {"id": "x"}, "timestamp": SOURCE_TIME}).encode(),
        delivery(5, webhook="event"),
        b"[" * (LIMIT + 10),
    ]

    answers = [await post(client, body) for body in rejected]

    assert [status for status, _ in answers] == [400, 422, 422, 413]
    assert answers[2:] == [
        (422, {"error": "unsupported_webhook", "webhook": "event"}),
        (413, {"error": "payload_too_large", "limit": LIMIT}),
    ]
    items = await quarantine_items(client)
    assert [item["error"] for item in items] == [answer["error"] for _, answer in reversed(answers)]
    ids = [item["id"] for item in items]
    assert ids == sorted(ids, reverse=True)
    for item, body, (_, answer) in zip(items, reversed(rejected), reversed(answers), strict=True):
        kept = await get_json(client, f"/v1/quarantine/{item['id']}")
        told = {key: value for key, value in answer.items() if key != "error"}
        assert kept["error"] == answer["error"]
        assert kept["detail"] == told.get("detail", told)
        assert kept["size"] == item["size"] == len(body)
        assert kept["body"] == body[:QUARANTINED_HEAD].decode()
        assert datetime.fromisoformat(kept["receivedAt"]).utcoffset() is not None
        assert kept["receivedAt"] == item["receivedAt"]
    assert await head_position(client) == 1
    report = await get_json(client, "/v1/audit/verify")
    assert (report["ok"], report["checked"]) == (True, 1)
    for path in (f"/v1/quarantine/{ids[0] + 1}", "/v1/quarantine/abc"):
        assert await get_json(client, path, status=404) == {"error": "not_found"}


async def test_forty_concurrent_copies_of_a_new_body_append_one_event(
    serve: Serve, database_url: str, fixture_bodies: dict[str, bytes]
) -> None:
    client = await serve(make_settings(database_url))
    body = fixture_bodies[TICKET]

    answers = await asyncio.gather(*(post(client, body) for _ in range(40)))

    recorded = [answer for status, answer in answers if status == 201]
    duplicates = [answer for status, answer in answers if status == 200]
    assert len(recorded) == 1
    assert len(duplicates) == 39
    assert all(
        answer == {"status": "duplicate", "ticketId": 408218, "version": 1, "position": 1}
        for answer in duplicates
    )
    assert recorded[0]["position"] == 1
    assert await head_position(client) == 1


async def test_concurrent_equal_data_in_other_bytes_appends_one_event(
    serve: Serve, database_url: str, fixture_bodies: dict[str, bytes]
) -> None:
    client = await serve(make_settings(database_url))
    data = ticket_data(fixture_bodies)
    bodies = [envelope(data, timestamp=f"2024-05-17T10:00:{second:02d}") for second in range(20)]

    answers = await asyncio.gather(*(post(client, body) for body in bodies))

    assert sorted(status for status, _ in answers) == [200] * 19 + [201]
    assert {(answer["version"], answer["position"]) for _, answer in answers} == {(1, 1)}
    assert await head_position(client) == 1


async def test_many_tickets_concurrently_keep_each_ones_arrival_order(
    serve: Serve, database_url: str
) -> None:
    client = await serve(make_settings(database_url))
    tickets = range(100, 130)
    changes_per_ticket = 3

    async def deliver_in_order(ticket_id: int) -> list[dict[str, Any]]:
        answers = []
        for quantity in range(changes_per_ticket):
            status, answer = await post(client, delivery(ticket_id, quantity=quantity))
            assert status == 201, answer
            answers.append(answer)
        return answers

    per_ticket = await asyncio.gather(*(deliver_in_order(ticket_id) for ticket_id in tickets))

    for ticket_id, answers in zip(tickets, per_ticket, strict=True):
        assert [answer["ticketId"] for answer in answers] == [ticket_id] * changes_per_ticket
        assert [answer["version"] for answer in answers] == [1, 2, 3]
        positions = [answer["position"] for answer in answers]
        assert positions == sorted(positions)
    every_position = sorted(answer["position"] for answers in per_ticket for answer in answers)
    total = len(tickets) * changes_per_ticket
    assert every_position == list(range(1, total + 1))
    report = await get_json(client, "/v1/audit/verify")
    assert (report["ok"], report["checked"]) == (True, total)


async def test_a_delivery_is_served_back_byte_for_byte(serve: Serve, database_url: str) -> None:
    client = await serve(make_settings(database_url))
    body = (
        b'  {\t"webhook" :"ticket",\r\n  "data":{ "id" : 5, '
        b'"name":"Caf\\u00e9 \\ud83c\\udf89 \xc3\xa9", "note":"a\\/b\\n"  } ,\n'
        b'"timestamp":"2024-05-17T14:30:12.5"   }\n\n'
    )
    status, answer = await post(client, body)
    assert status == 201, answer
    assert answer["deliveryId"] == sha256(body)

    response = await client.get(f"/v1/deliveries/{answer['deliveryId']}")

    assert response.status == 200
    assert await response.read() == body
    received_at = datetime.fromisoformat(response.headers["X-Received-At"])
    assert received_at.utcoffset() is not None


async def test_only_recorded_bodies_are_served(
    serve: Serve, database_url: str, fixture_bodies: dict[str, bytes]
) -> None:
    client = await serve(make_settings(database_url))
    original, compacted = fixture_bodies[GROUP], compact(fixture_bodies[GROUP])
    await post(client, original)
    await post(client, compacted)

    first = await client.get(f"/v1/deliveries/{sha256(original)}")

    assert (first.status, await first.read()) == (200, original)
    # Equal data is a duplicate, and its other bytes are not kept.
    for delivery_id in [sha256(compacted), "0" * 64, "not-a-delivery-id", sha256(original).upper()]:
        body = await get_json(client, f"/v1/deliveries/{delivery_id}", status=404)
        assert body == {"error": "not_found"}, delivery_id


async def test_unknown_route_and_wrong_method_answer_json(serve: Serve, database_url: str) -> None:
    client = await serve(make_settings(database_url))

    missing = await client.get("/webhooks/nope")
    wrong_method = await client.get(INTAKE)
    wrong_method_on_read = await client.delete("/v1/audit/verify")

    assert (missing.status, await json_body(missing)) == (404, {"error": "not_found"})
    assert wrong_method.status == 405
    assert await json_body(wrong_method) == {"error": "method_not_allowed"}
    assert "POST" in wrong_method.headers["Allow"]
    assert wrong_method_on_read.status == 405
    assert (await json_body(wrong_method_on_read))["error"] == "method_not_allowed"
