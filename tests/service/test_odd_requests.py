"""Odd requests to the query API and the intake's headers: always a clear 4xx, never a 5xx.

Bytes that no HTTP client library will send (headers that are not UTF-8) go over a raw socket.
Query parameters are checked by name against each route's declared list, which the OpenAPI
document must repeat exactly.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any
from urllib.parse import quote, urlencode

import orjson
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.signatures import sign
from service.web.app import create_app
from service.web.openapi import build_spec, served_operations
from service.web.operations import SHARED_PARAMETERS
from service.web.parameters import declared_parameters
from tests.helpers import INTAKE, Client, Serve, delivery, get_json, make_settings
from tests.service.serve_process import call, serving

READ_TOKEN = "read-token"
ADMIN_TOKEN = "admin-token"
WEBHOOK_TOKEN = "webhook-token"
SECRET = "whsec_" + base64.b64encode(b"thirty-two bytes of signing key!").decode()
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# Digits that `int` and `str.isdigit` take but a parameter must not: superscript two,
# full-width five, Arabic-Indic three, Devanagari one.
NOT_ASCII_DIGITS = ["²", "\uff15", "٣", "१", "\uff15\uff10\uff10\uff11"]
BEYOND_BIGINT = [2**63, -(2**63) - 1, 2**64 + 5, 10**30]


async def raw_request(client: Client, head: bytes, body: bytes = b"") -> tuple[int, Any]:
    """Send `head` (request line and headers, each ending in CRLF) as bytes, untouched."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    status_and_headers, _, payload = answer.partition(b"\r\n\r\n")
    return int(status_and_headers.split(b" ")[1]), json.loads(payload)


def cursor(state: dict[str, Any]) -> str:
    """A cursor as the service encodes them, holding whatever state the test wants."""
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("=")


async def test_authorization_bytes_that_are_not_text_are_401(
    serve: Serve, database_url: str
) -> None:
    client = await serve(
        make_settings(
            database_url,
            webhook_token=WEBHOOK_TOKEN,
            read_token=READ_TOKEN,
            admin_token=ADMIN_TOKEN,
        )
    )
    body = delivery(1, quantity=1)
    for value in (b"Bearer \xff\xfe", b"Bearer read-token\x80", "Bearer €".encode(), b"\xff"):
        authorization = b"Authorization: " + value + b"\r\n"
        for request_line, payload in (
            (b"POST /webhooks/ingresse HTTP/1.1\r\n", body),
            (b"GET /v1/tickets/1 HTTP/1.1\r\n", b""),
            (b"GET /v1/quarantine HTTP/1.1\r\n", b""),
        ):
            head = request_line + b"Host: test\r\n" + authorization
            assert await raw_request(client, head, payload) == (
                401,
                {"error": "unauthorized"},
            ), (request_line, value)
    # Refused at auth: nothing recorded, nothing quarantined.
    assert (await get_json(client, "/v1/audit/checkpoint", headers=ADMIN))["position"] == 0
    assert (await get_json(client, "/v1/quarantine", headers=ADMIN))["items"] == []


async def test_signature_headers_that_are_not_utf8_are_401(serve: Serve, database_url: str) -> None:
    client = await serve(make_settings(database_url, signing_secret=SECRET))
    body = delivery(2, quantity=1)
    now = int(time.time())
    good = sign(SECRET, "msg_1", now, body).encode()
    for webhook_id, signature in ((b"msg_\xff\xfe", good), (b"msg_1", b"v1,\xff" + good)):
        head = (
            b"POST /webhooks/ingresse HTTP/1.1\r\nHost: test\r\n"
            + b"webhook-id: "
            + webhook_id
            + b"\r\nwebhook-timestamp: %d\r\n" % now
            + b"webhook-signature: "
            + signature
            + b"\r\n"
        )
        assert await raw_request(client, head, body) == (401, {"error": "unauthorized"})
    # The same delivery with text headers is recorded.
    head = (
        b"POST /webhooks/ingresse HTTP/1.1\r\nHost: test\r\nwebhook-id: msg_1\r\n"
        + b"webhook-timestamp: %d\r\nwebhook-signature: %s\r\n" % (now, good)
    )
    status, answer = await raw_request(client, head, body)
    assert (status, answer["status"]) == (201, "recorded")


async def test_digits_other_than_ascii_are_not_numbers(serve: Serve, database_url: str) -> None:
    client = await serve(make_settings(database_url))
    for ticket_id in (5001, 5):
        response = await client.post(INTAKE, data=delivery(ticket_id, quantity=1))
        assert response.status == 201
    await get_json(client, "/v1/tickets/5001?minPosition=2")
    for digits in NOT_ASCII_DIGITS:
        for path in (
            f"/v1/tickets/{quote(digits)}",
            f"/v1/tickets/{quote(digits)}/history",
            f"/v1/tickets?limit={quote(digits)}",
            f"/v1/tickets?eventId={quote(digits)}",
            f"/v1/tickets/5?version={quote(digits)}",
            f"/v1/changes?limit={quote(digits)}",
            f"/v1/changes?ticketId={quote(digits)}",
            f"/v1/quarantine?limit={quote(digits)}",
            f"/v1/tickets/5?minPosition={quote(digits)}",
        ):
            answer = await get_json(client, path, status=400)
            assert answer["error"] == "bad_request", path
        # Quarantine ids that are not integers name nothing, as before.
        await get_json(client, f"/v1/quarantine/{quote(digits)}", status=404)
    for spelled in (" 5", "+5", "5_0", "05 "):
        await get_json(client, f"/v1/tickets/{quote(spelled)}", status=400)


async def test_cursors_past_64_bits_are_400_on_every_paginated_route(
    serve: Serve, database_url: str
) -> None:
    client = await serve(make_settings(database_url))
    response = await client.post(INTAKE, data=delivery(5, quantity=1))
    assert response.status == 201
    paginated = [path for path, names in v1_routes(client.app) if "cursor" in names]
    assert len(paginated) >= 4, paginated
    for template in paginated:
        path = template.replace("{ticketId}", "5")
        for number in BEYOND_BIGINT:
            for state in (
                {"after": number},
                {"before": number},
                {"after": [number, 1]},
                {"after": [1, number]},
            ):
                answer = await get_json(client, f"{path}?cursor={cursor(state)}", status=400)
                assert answer == {
                    "error": "bad_request",
                    "detail": "cursor is not one this service gave out",
                }, (path, state)


Route = tuple[str, str, tuple[str, ...]]


def all_v1_routes(app: web.Application) -> list[Route]:
    """Each /v1 route's method, path, and the query parameters its handler declares."""
    routes: list[Route] = []
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if not path.startswith("/v1/") or route.method == "HEAD":
            continue
        declared = declared_parameters(route.handler)
        assert declared is not None, f"{route.method} {path} declares no query parameters"
        routes.append((route.method, path, declared))
    return routes


def v1_routes(app: web.Application, method: str | None = None) -> list[tuple[str, tuple[str, ...]]]:
    return [(path, declared) for m, path, declared in all_v1_routes(app) if method in (None, m)]


def test_every_v1_route_declares_the_parameters_its_openapi_operation_lists() -> None:
    app = create_app(make_settings("sqlite:///unused.sqlite3"))
    routes = all_v1_routes(app)
    spec = build_spec(served_operations(app.router))
    documented_operations = {
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        if path.startswith("/v1/")
        for method in operations
    }
    assert documented_operations == {(method, path) for method, path, _ in routes}
    for method, path, declared in routes:
        operation = spec["paths"][path][method.lower()]
        documented = sorted(
            SHARED_PARAMETERS[p["$ref"].rsplit("/", 1)[1]].name if "$ref" in p else p["name"]
            for p in operation.get("parameters", [])
            if "$ref" in p or p["in"] == "query"
        )
        assert documented == sorted(declared), f"{method} {path}"


async def test_unknown_and_repeated_parameters_are_400_naming_the_allowed_ones(
    serve: Serve, database_url: str
) -> None:
    client = await serve(
        make_settings(database_url, read_token=READ_TOKEN, admin_token=ADMIN_TOKEN)
    )
    response = await client.post(INTAKE, data=delivery(5, quantity=1))
    assert response.status == 201
    read = {"Authorization": f"Bearer {READ_TOKEN}"}
    answer = await get_json(client, "/v1/tickets/5?asOf=2024-01-01", status=400, headers=read)
    assert answer == {
        "error": "bad_request",
        "detail": "unknown parameter asOf; allowed: at, knownAt, version, minPosition",
    }
    for method, path, declared in all_v1_routes(client.app):
        concrete = path.format(ticketId=5, deliveryId="0" * 64, name="tickets", id=1)
        answered = await json_answer(client, method, f"{concrete}?Limit=1", ADMIN)
        listed = ", ".join(declared) or "none"
        assert answered == (
            400,
            {"error": "bad_request", "detail": f"unknown parameter Limit; allowed: {listed}"},
        ), (method, path)
        # Without the token the answer is 401, telling a stranger nothing about parameters.
        assert (await json_answer(client, method, f"{concrete}?Limit=1", {}))[0] == 401
    answer = await get_json(
        client, "/v1/tickets/5?at=2024-01-01&at=2025-01-01", status=400, headers=read
    )
    assert answer["detail"] == "parameter at given more than once"
    # A name that was not UTF-8 is echoed escaped, not refused with a 500.
    answer = await get_json(client, "/v1/tickets/5?%FF=1", status=400, headers=read)
    assert answer["detail"].startswith("unknown parameter ")


async def json_answer(
    client: Client, method: str, path: str, headers: dict[str, str]
) -> tuple[int, Any]:
    response = await client.request(method, path, headers=headers)
    return response.status, orjson.loads(await response.read())


# Values a fuzzer should try besides arbitrary text: the edges that broke before.
EDGE_VALUES = [
    "",
    "0",
    "-1",
    "1",
    "1000",
    "1001",
    str(2**63),
    str(-(2**63) - 1),
    "9" * 50,
    "2024-05-17T10:00:00",
    "2024-05-17T10:00:00+99:00",
    "value.price",
    "salePeriods[id=1",
    "csv",
    *NOT_ASCII_DIGITS,
    *[cursor(state) for state in ({"after": 2**63}, {"after": [1]}, {"before": "x"}, {})],
    "\x00",
]
# Path parameters, each also tried with values that are not ids.
PATH_VALUES = {
    "ticketId": ["5", "\uff15", "9223372036854775808", "-1", "x"],
    "deliveryId": ["0" * 64, "\uff10" * 64],
    "id": ["1", "\uff11", "99999999999999999999"],
}


def get_routes() -> tuple[list[str], list[str]]:
    """Every GET /v1 route with its path parameters filled in, and every parameter name any
    of them declares plus two they do not (the verify route is left out: it reads the log).
    """
    app = create_app(make_settings("sqlite:///unused.sqlite3"))
    paths: list[str] = []
    names = {"asOf", "token"}
    for path, declared in v1_routes(app, method="GET"):
        names.update(declared)
        if path == "/v1/audit/verify":
            continue
        fillings: list[dict[str, str]] = [{}]
        for name, values in PATH_VALUES.items():
            if "{" + name + "}" in path:
                fillings = [
                    {**filling, name: quote(value)} for filling in fillings for value in values
                ]
        paths += [path.format(**filling) for filling in fillings]
    return paths, sorted(names)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_fuzzed_query_parameters_never_get_a_5xx(database_url: str) -> None:
    routes, names = get_routes()
    assert len(routes) > 12
    values = st.one_of(st.sampled_from(EDGE_VALUES), st.text(max_size=30))
    queries = st.dictionaries(st.sampled_from(names), values, max_size=4)
    with serving(database_url) as base:
        recorded = call(base, "POST", INTAKE, delivery(5, quantity=1, salePeriods=[{"id": 1}]))
        assert recorded[0] == 201

        @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(st.sampled_from(routes), queries)
        def judge(route: str, query: dict[str, str]) -> None:
            # Not minPosition waits of 5 s: a fuzzed position is past the head or applied.
            status, answer = call(base, "GET", f"{route}?{urlencode(query)}")
            assert status < 500, (route, query, answer)

        judge()
