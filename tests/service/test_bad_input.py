"""Hostile and broken deliveries: never a 5xx, never an event, every reject kept, service alive.

Each case goes through the real app on both backends and is judged the same way: the answer is
JSON with the contract's error code, the log's head does not move, a reject that passed auth
(400, 413, 422) is the newest quarantine item with the code the sender got, and afterwards the
service still answers `/healthz` and records a valid delivery.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_aiohttp import AiohttpClient

from service.payload import MAX_NESTING
from service.web import intake_view
from tests.helpers import (
    INTAKE,
    Client,
    Serve,
    app_clients,
    create_log,
    delivery,
    get_json,
    head_position,
    json_body,
    make_settings,
    run_cli,
)
from tests.service.serve_process import call, serving

TICKET = "ticket-408218"
LIMIT = 1_048_576
QUARANTINED = (400, 413, 422)
DEEP = 100_000
# Ticket ids for the valid delivery sent after each case, far from any fixture's.
FRESH_TICKETS = count(9_000_000)

Send = Callable[[Client], Awaitable[ClientResponse]]


@dataclass(frozen=True)
class Bad:
    name: str
    body: bytes
    status: int
    error: str
    loc: tuple[str | int, ...] | None = None


@pytest.fixture
async def serve(database_url: str, aiohttp_client: AiohttpClient) -> AsyncIterator[Serve]:
    async with app_clients(aiohttp_client) as start:
        yield start


def fixture_envelope(fixture_bodies: dict[str, bytes]) -> dict[str, Any]:
    envelope: dict[str, Any] = json.loads(fixture_bodies[TICKET])
    return envelope


def with_field(envelope: dict[str, Any], path: tuple[str, ...], value: Any) -> bytes:
    changed = copy.deepcopy(envelope)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return json.dumps(changed).encode()


def without_field(envelope: dict[str, Any], path: tuple[str, ...]) -> bytes:
    changed = copy.deepcopy(envelope)
    target = changed
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return json.dumps(changed).encode()


NOT_INTEGERS: list[Any] = ["1", 1.5, True, {}, [], [1]]
NOT_BIGINTS: list[Any] = [*NOT_INTEGERS, None, 2**63, -(2**63) - 1, 10**30]
NOT_COUNTS: list[Any] = [*NOT_INTEGERS, None, "ten"]


def wrong_types(envelope: dict[str, Any]) -> list[Bad]:
    """A wrong value at every field the contract checks, with where the error must point."""
    cases: list[Bad] = []

    def bad(path: tuple[str, ...], value: Any, loc: tuple[str | int, ...]) -> None:
        name = f"{'.'.join(path)}={json.dumps(value)[:20]}"
        cases.append(Bad(name, with_field(envelope, path, value), 422, "invalid_payload", loc))

    for value in NOT_BIGINTS:
        bad(("data", "id"), value, ("data", "id"))
        bad(("data", "eventId"), value, ("data", "eventId"))
        if value is not None:
            bad(("data", "parent"), value, ("data", "parent"))
    for field in ("quantity", "quantityDiff", "order"):
        for value in NOT_COUNTS:
            bad(("data", field), value, ("data", field))
    # `{}` is the empty list (`[]` and `{}` are the same empty value), so it is no wrong type.
    for field in ("salePeriods", "children"):
        for value in ("x", 1, {"id": 1}, None):
            bad(("data", field), value, ("data", field))
        bad(("data", field), [1], ("data", field, 0))
        bad(("data", field), [{"id": 1}, "x"], ("data", field, 1))
        bad(("data", field), [{}], ("data", field, 0, "id"))
        for value in NOT_BIGINTS:
            bad(("data", field), [{"id": value}], ("data", field, 0, "id"))
    for value in ("x", 1, {"a": 1}, None, [1], [[1]]):
        loc: tuple[str | int, ...] = ("data", "eventDates")
        bad(("data", "eventDates"), value, (*loc, 0) if isinstance(value, list) else loc)
    for value in ("x", 1, [1], None):
        bad(("data", "value"), value, ("data", "value"))
    for value in ("1", True, None, {}, []):
        bad(("data", "value"), {"price": 1, "fee": value}, ("data", "value", "fee"))
    for value in (1, None, True, [], {}):
        bad(("webhook",), value, ("webhook",))
    for value in (1, None, "", "yesterday", "2024-13-01T00:00:00", [], {}):
        bad(("timestamp",), value, ("timestamp",))
    for value in ([], "x", 1, None):
        bad(("data",), value, ("data",))
    for path in (("webhook",), ("timestamp",), ("data",), ("data", "id")):
        body = without_field(envelope, path)
        cases.append(Bad(f"missing {'.'.join(path)}", body, 422, "invalid_payload", path))
    return cases


def malformed(envelope: dict[str, Any]) -> list[Bad]:
    good = json.dumps(envelope).encode()
    huge = b"1" + b"0" * 5000
    deep = b"[" * DEEP + b"]" * DEEP

    def at(field: str, raw: bytes) -> bytes:
        """The fixture with `data.<field>` set to `raw`, which need not be valid JSON."""
        return with_field(envelope, ("data", field), "MARK").replace(b'"MARK"', raw)

    shapes = {
        "empty body": b"",
        "whitespace only": b" \r\n\t ",
        "truncated at half": good[: len(good) // 2],
        "truncated by one byte": good[:-1],
        "only an opening brace": b"{",
        "trailing garbage": good + b"}",
        "two documents": good + good,
        "top level array": b"[" + good + b"]",
        "top level string": b'"ticket"',
        "top level null": b"null",
        "single quotes": good.replace(b'"', b"'"),
        "nested arrays 100k deep": deep,
        "nested arrays 100k deep inside data": at("extra", deep),
        "nested objects 100k deep inside data": at("extra", b'{"a":' * DEEP + b"1" + b"}" * DEEP),
        # A 20-digit integer sends the body to the exact (recursive) decoder.
        "nested arrays 100k deep beside a huge integer": at(
            "extra", b"[" + huge[:20] + b"," + deep + b"]"
        ),
        # The envelope and `data` are two levels: these are 101 and 502 in all.
        "nested one level past the limit": at("extra", nested(MAX_NESTING - 1)),
        "nested 500 levels inside data": at("extra", nested(500)),
        "nested 500 levels beside a huge integer": at(
            "extra", b"[" + huge[:20] + b"," + nested(500) + b"]"
        ),
        "1e400": at("quantity", b"1e400"),
        "-1e400 as id": at("id", b"-1e400"),
        "5000 digit integer": at("quantity", huge),
        "5000 digit id": at("id", huge),
        "5000 digit exponent": at("quantity", b"1e" + huge),
        "NaN": at("quantity", b"NaN"),
        "Infinity": at("quantity", b"-Infinity"),
        "invalid UTF-8 in a string": at("name", b'"Pista \xff\xfe"'),
        "overlong UTF-8": at("name", b'"\xc0\xaf"'),
        "lone surrogate escape": at("name", b'"\\ud800"'),
        "lone surrogate escape beside a huge integer": at(
            "name", b'["\\ud800", ' + huge[:25] + b"]"
        ),
        "UTF-16 body": json.dumps(envelope).encode("utf-16"),
        "UTF-16 body without BOM": json.dumps(envelope).encode("utf-16-le"),
        "UTF-8 BOM": b"\xef\xbb\xbf" + good,
        "raw NUL in a string": at("name", b'"Pi\x00sta"'),
        "raw NUL after the document": good + b"\x00",
        "raw NUL alone": b"\x00",
        "control character in a string": at("name", b'"Pi\x01sta"'),
    }
    return [Bad(name, body, 400, "malformed_json") for name, body in shapes.items()]


def nested(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def unsupported(envelope: dict[str, Any]) -> list[Bad]:
    return [
        Bad(
            f"webhook {kind!r}",
            with_field(envelope, ("webhook",), kind),
            422,
            "unsupported_webhook",
        )
        for kind in ("order", "TICKET", "", "ticket ", "\u0000")
    ]


async def expect_clean_reject(client: Client, send: Send, bad: Bad) -> None:
    position = await head_position(client)
    newest = await newest_quarantined(client)
    response = await send(client)
    answer = await json_body(response)
    assert response.status == bad.status, (bad.name, answer)
    assert answer["error"] == bad.error, (bad.name, answer)
    if bad.loc is not None:
        locs = [tuple(item["loc"]) for item in answer["detail"]]
        assert bad.loc in locs, (bad.name, answer)
    assert await head_position(client) == position, bad.name
    now_newest = await newest_quarantined(client)
    if bad.status in QUARANTINED:
        assert now_newest is not None, bad.name
        assert newest is None or now_newest["id"] > newest["id"], bad.name
        assert now_newest["error"] == bad.error, (bad.name, now_newest)
    else:
        assert now_newest == newest, bad.name
    await expect_alive(client)


async def newest_quarantined(client: Client) -> dict[str, Any] | None:
    items: list[dict[str, Any]] = (await get_json(client, "/v1/quarantine?limit=1"))["items"]
    return items[0] if items else None


async def expect_alive(client: Client) -> None:
    health = await client.get("/healthz")
    assert health.status == 200, await health.text()
    response = await client.post(INTAKE, data=delivery(next(FRESH_TICKETS), quantity=1))
    assert response.status == 201, await response.text()


def posting(body: bytes, path: str = INTAKE) -> Send:
    async def send(client: Client) -> ClientResponse:
        return await client.post(path, data=body)

    return send


async def test_malformed_bodies_are_400_quarantined_and_harmless(
    serve: Serve, database_url: str, fixture_bodies: dict[str, bytes]
) -> None:
    client = await serve(make_settings(database_url))
    for bad in malformed(fixture_envelope(fixture_bodies)):
        await expect_clean_reject(client, posting(bad.body), bad)


async def test_wrong_types_at_every_checked_field_are_422_naming_the_field(
    serve: Serve, database_url: str, fixture_bodies: dict[str, bytes]
) -> None:
    client = await serve(make_settings(database_url))
    envelope = fixture_envelope(fixture_bodies)
    for bad in [*wrong_types(envelope), *unsupported(envelope)]:
        await expect_clean_reject(client, posting(bad.body), bad)


async def test_wrong_methods_and_unknown_paths_are_json_and_not_quarantined(
    serve: Serve, database_url: str, fixture_bodies: dict[str, bytes]
) -> None:
    client = await serve(make_settings(database_url))
    body = fixture_bodies[TICKET]
    for method in ("GET", "PUT", "DELETE", "PATCH"):
        bad = Bad(f"{method} {INTAKE}", body, 405, "method_not_allowed")

        async def send(client: Client, method: str = method) -> ClientResponse:
            response = await client.request(method, INTAKE, data=body)
            assert "POST" in response.headers.get("Allow", ""), method
            return response

        await expect_clean_reject(client, send, bad)
    for path in (
        "/webhooks/ingresse/",
        "/webhooks/other",
        "/nothing",
        "/v1/nothing",
        "/%00",
        "/v2/tickets",
    ):
        bad = Bad(f"POST {path}", body, 404, "not_found")
        await expect_clean_reject(client, posting(body, path), bad)
    # The console's home page is there, for GET only.
    home = Bad("POST /", body, 405, "method_not_allowed")
    await expect_clean_reject(client, posting(body, "/"), home)
    await expect_clean_reject(
        client,
        posting(body, "/v1/tickets"),
        Bad("POST /v1/tickets", body, 405, "method_not_allowed"),
    )


async def chunks_of(body: bytes, size: int, pause: float = 0.0) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]
        await asyncio.sleep(pause)


async def test_oversized_bodies_are_413_with_and_without_content_length(
    serve: Serve, database_url: str
) -> None:
    client = await serve(make_settings(database_url))
    oversized = delivery(5, note="x" * LIMIT)
    declared = Bad("declared Content-Length over the limit", oversized, 413, "payload_too_large")
    await expect_clean_reject(client, posting(oversized), declared)
    chunked = Bad("chunked, no Content-Length", oversized, 413, "payload_too_large")
    await expect_clean_reject(
        client, lambda client: client.post(INTAKE, data=chunks_of(oversized, 64 * 1024)), chunked
    )


async def test_a_slow_sender_within_the_timeout_is_recorded(
    serve: Serve, database_url: str
) -> None:
    client = await serve(make_settings(database_url))
    position = await head_position(client)
    body = delivery(6, quantity=3, note="slow" * 200)
    response = await client.post(INTAKE, data=chunks_of(body, 50, pause=0.01))
    answer = await json_body(response)
    assert response.status == 201, answer
    assert answer["position"] == position + 1
    await expect_alive(client)


async def test_a_sender_slower_than_the_timeout_gets_408_and_nothing_is_recorded(
    serve: Serve, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(intake_view, "BODY_READ_TIMEOUT_SECONDS", 0.3)
    client = await serve(make_settings(database_url))
    body = delivery(6, quantity=4)
    bad = Bad("trickled past the read timeout", body, 408, "request_timeout")
    await expect_clean_reject(
        client, lambda client: client.post(INTAKE, data=chunks_of(body, 10, pause=0.2)), bad
    )


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**25), max_value=10**25)
    | st.floats()
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=8,
)
MUTABLE_PATHS = [
    ("webhook",),
    ("timestamp",),
    ("data",),
    *[
        ("data", field)
        for field in (
            "id",
            "eventId",
            "parent",
            "quantity",
            "quantityDiff",
            "order",
            "salePeriods",
            "children",
            "eventDates",
            "value",
            "name",
        )
    ],
]


def arbitrary_bodies(envelope: dict[str, Any]) -> st.SearchStrategy[bytes]:
    replaced = st.tuples(st.sampled_from(MUTABLE_PATHS), JSON_VALUES).map(
        lambda change: with_field(envelope, *change)
    )
    removed = st.sampled_from(MUTABLE_PATHS).map(lambda path: without_field(envelope, path))
    documents = JSON_VALUES.map(lambda value: json.dumps(value).encode())
    return st.one_of(st.binary(max_size=300), replaced, removed, documents)


def test_arbitrary_bodies_never_5xx_never_an_event_when_refused_and_refusals_kept(
    database_url: str, fixture_bodies: dict[str, bytes]
) -> None:
    envelope = fixture_envelope(fixture_bodies)
    with serving(database_url) as base:

        def head() -> int:
            position: int = call(base, "GET", "/v1/audit/checkpoint")[1]["position"]
            return position

        def newest() -> dict[str, Any] | None:
            items: list[dict[str, Any]] = call(base, "GET", "/v1/quarantine?limit=1")[1]["items"]
            return items[0] if items else None

        @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(arbitrary_bodies(envelope))
        def judge(body: bytes) -> None:
            position, kept = head(), newest()
            status, answer = call(base, "POST", INTAKE, body)
            assert status < 500, answer
            recorded = 1 if status == 201 else 0
            assert head() == position + recorded, (status, answer)
            if status in (200, 201):
                return
            assert status in QUARANTINED, answer
            now_kept = newest()
            assert now_kept is not None, answer
            assert kept is None or now_kept["id"] > kept["id"], answer
            assert now_kept["error"] == answer["error"], (now_kept, answer)

        judge()
        assert call(base, "GET", "/healthz")[0] == 200
        assert call(base, "POST", INTAKE, delivery(next(FRESH_TICKETS)))[0] == 201


async def test_deep_nesting_is_quarantined_with_its_body_and_the_limit_itself_is_recorded(
    serve: Serve, database_url: str
) -> None:
    client = await serve(make_settings(database_url))
    too_deep = delivery(11, extra="MARK").replace(b'"MARK"', nested(500))
    response = await client.post(INTAKE, data=too_deep)
    assert response.status == 400
    assert await response.json() == {
        "error": "malformed_json",
        "detail": f"nesting too deep: more than {MAX_NESTING} levels",
    }
    newest = await newest_quarantined(client)
    assert newest is not None
    kept = await get_json(client, f"/v1/quarantine/{newest['id']}")
    assert kept["body"].encode() == too_deep
    # Exactly at the limit: recorded, and every projection applies it.
    at_limit = delivery(12, extra="MARK").replace(b'"MARK"', nested(MAX_NESTING - 2))
    response = await client.post(INTAKE, data=at_limit)
    assert response.status == 201, await response.text()
    position = (await response.json())["position"]
    for path in ("/v1/tickets/12", "/v1/tickets/12/history", "/v1/tickets/12/quantity"):
        await get_json(client, f"{path}?minPosition={position}")
    status: list[dict[str, Any]] = await (await client.get("/v1/projections")).json()
    assert all(entry["state"] == "live" for entry in status), status


def test_import_reports_a_deeply_nested_line_as_rejected(tmp_path: Path, database_url: str) -> None:
    source = tmp_path / "deliveries.ndjson"
    deep = delivery(13, extra="MARK").replace(b'"MARK"', nested(600))
    source.write_bytes(delivery(14, quantity=1) + b"\n" + deep + b"\n")
    create_log(database_url)

    result = run_cli("import", str(source), database_url=database_url)

    assert "Traceback" not in result.stderr
    assert (result.returncode, result.stdout) == (1, "recorded 1, duplicates 0, rejected 1\n")
    assert "line 2: malformed_json" in result.stderr, result.stderr
