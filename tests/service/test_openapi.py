"""The OpenAPI document: valid 3.1, one entry per route both ways, and live answers matching it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse, web
from openapi_schema_validator import OAS31Validator, oas31_format_checker
from openapi_spec_validator import validate
from pytest_aiohttp import AiohttpClient
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from service.console.routes import PREFIX as CONSOLE_PREFIX
from service.web.app import create_app
from service.web.openapi import build_spec, served_operations
from service.web.routes import setup_routes
from tests.helpers import INTAKE, Client, app_clients, delivery, make_settings


def route_table() -> web.Application:
    app = web.Application()
    setup_routes(app)
    return app


SPEC = build_spec(served_operations(route_table().router))
SPEC_URI = "urn:ticket-audit:openapi"
REGISTRY: Registry[Any] = Registry().with_resource(SPEC_URI, DRAFT202012.create_resource(SPEC))
TOKENS = {"webhook_token": "hook-secret", "read_token": "read-secret", "admin_token": "root"}
WEBHOOK = {"Authorization": "Bearer hook-secret"}
READ = {"Authorization": "Bearer read-secret"}
ADMIN = {"Authorization": "Bearer root"}


@pytest.fixture
async def client(database_url: str, aiohttp_client: AiohttpClient) -> AsyncIterator[Client]:
    async with app_clients(aiohttp_client) as serve:
        yield await serve(make_settings(database_url, **TOKENS))


def pointer(*keys: str) -> str:
    return "".join("/" + key.replace("~", "~0").replace("/", "~1") for key in keys)


def resolved(location: str) -> tuple[str, dict[str, Any]]:
    """Follow a `$ref` at `location` (a JSON pointer into SPEC), if there is one."""
    node: Any = SPEC
    for key in location.split("/")[1:]:
        node = node[key.replace("~1", "/").replace("~0", "~")]
    if "$ref" in node:
        return resolved(node["$ref"].removeprefix("#"))
    return location, node


async def documented(response: ClientResponse, path: str, method: str = "get") -> Any:
    """Check an answer against its operation in SPEC; give back its JSON body."""
    status = str(response.status)
    answers = SPEC["paths"][path][method]["responses"]
    assert status in answers, f"{method} {path} answered an undocumented {status}"
    location, answer = resolved(pointer("paths", path, method, "responses", status))
    assert response.content_type in answer["content"], response.content_type
    for name, header in answer.get("headers", {}).items():
        if header.get("required"):
            assert name in response.headers, name
    body = await response.read()
    if response.content_type != "application/json":
        return body.decode()
    document = json.loads(body)
    schema_at = location + pointer("content", "application/json", "schema")
    validator = OAS31Validator(
        {"$ref": f"{SPEC_URI}#{schema_at}"}, registry=REGISTRY, format_checker=oas31_format_checker
    )
    validator.validate(document)
    return document


def app_operations(app: web.Application) -> set[tuple[str, str]]:
    """The API's operations: the console's pages are HTML for people, not in the document."""
    return {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD"
        and route.resource is not None
        and not (route.resource.name or "").startswith(CONSOLE_PREFIX)
    }


def spec_operations() -> set[tuple[str, str]]:
    return {(method, path) for path, item in SPEC["paths"].items() for method in item}


def test_the_document_is_valid_openapi_3_1_of_this_package() -> None:
    validate(SPEC)
    assert SPEC["openapi"] == "3.1.0"
    assert SPEC["info"]["version"] == version("ticket-audit")


def test_every_route_is_documented_and_every_documented_route_exists(tmp_path: Path) -> None:
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'log.sqlite3'}"))
    assert app_operations(app) - spec_operations() == set(), "routes missing from the document"
    assert spec_operations() - app_operations(app) == set(), "documented routes missing"


def test_a_route_and_its_description_come_together() -> None:
    served = served_operations(route_table().router)
    with pytest.raises(LookupError, match="without a description"):
        build_spec([*served, ("get", "/v1/undescribed")])
    with pytest.raises(LookupError, match="not served"):
        build_spec(served[1:])


async def test_intake_answers_match_the_document(
    client: Client, fixture_bodies: dict[str, bytes]
) -> None:
    async def deliver(body: bytes, headers: dict[str, str] = WEBHOOK) -> Any:
        response = await client.post(INTAKE, data=body, headers=headers)
        return await documented(response, INTAKE, "post")

    recorded = await deliver(fixture_bodies["ticket-408218"])
    assert recorded["status"] == "recorded"
    assert (await deliver(fixture_bodies["ticket-408218"]))["status"] == "duplicate"
    assert (await deliver(b"{not json"))["error"] == "malformed_json"
    invalid = await deliver(delivery(1, salePeriods=[{"id": "x"}]))
    assert invalid["detail"][0]["loc"] == ["data", "salePeriods", 0, "id"]
    assert (await deliver(delivery(1, webhook="order")))["error"] == "unsupported_webhook"
    too_large = b" " * (2 * 1024 * 1024) + delivery(1)
    assert (await deliver(too_large))["error"] == "payload_too_large"
    assert (await deliver(delivery(1), headers={}))["error"] == "unauthorized"
    by_query = await client.post(INTAKE, params={"token": "hook-secret"}, data=delivery(2))
    assert (await documented(by_query, INTAKE, "post"))["status"] == "recorded"

    path = "/v1/deliveries/{deliveryId}"
    raw = await client.get(f"/v1/deliveries/{recorded['deliveryId']}", headers=READ)
    assert await documented(raw, path) == json.loads(fixture_bodies["ticket-408218"])
    unknown = await client.get(f"/v1/deliveries/{'0' * 64}", headers=READ)
    assert (await documented(unknown, path))["error"] == "not_found"


async def test_empty_values_spelled_either_way_match_the_document(client: Client) -> None:
    body = delivery(3, salePeriods={}, children={}, eventDates={}, value=[], attributes=[])
    recorded = await documented(
        await client.post(INTAKE, data=body, headers=WEBHOOK), INTAKE, "post"
    )

    raw = await client.get(f"/v1/deliveries/{recorded['deliveryId']}", headers=READ)
    assert await documented(raw, "/v1/deliveries/{deliveryId}") == json.loads(body)


async def test_query_answers_match_the_document(
    client: Client, fixture_bodies: dict[str, bytes]
) -> None:
    await client.post(INTAKE, data=fixture_bodies["group-346868"], headers=WEBHOOK)
    first = await client.post(INTAKE, data=fixture_bodies["ticket-408218"], headers=WEBHOOK)
    changed = json.loads(fixture_bodies["ticket-408218"])
    changed["data"].update(quantity=90, quantityDiff=-10)
    changed["timestamp"] = "2018-04-03T10:00:00"
    second = await client.post(INTAKE, data=json.dumps(changed), headers=WEBHOOK)
    assert (first.status, second.status) == (201, 201)
    wait = {"minPosition": str((await second.json())["position"])}

    async def read(template: str, url: str, **params: str) -> Any:
        response = await client.get(url, params={**wait, **params}, headers=READ)
        return await documented(response, template)

    ticket = "/v1/tickets/{ticketId}"
    assert (await read(ticket, "/v1/tickets/408218"))["version"] == 2
    assert (await read(ticket, "/v1/tickets/408218", version="1"))["snapshot"]["quantity"] == 100
    state = await read(ticket, "/v1/tickets/408218", at="2018-04-02T23:00:00", knownAt="2099-01-01")
    assert state["version"] == 1
    assert (await read(ticket, "/v1/tickets/999"))["error"] == "not_found"
    assert (await read(ticket, "/v1/tickets/408218", version="x"))["error"] == "bad_request"
    listed = await read("/v1/tickets", "/v1/tickets", eventId="24724", limit="1")
    assert len(listed["items"]) == 1
    assert listed["next"] is not None
    children = await read(ticket + "/children", "/v1/tickets/346868/children")
    assert 408218 in [child["ticketId"] for child in children["items"]]
    history = await read(ticket + "/history", "/v1/tickets/408218/history")
    assert [version["version"] for version in history["items"]] == [1, 2]
    quantity = await read(ticket + "/quantity", "/v1/tickets/408218/quantity")
    assert [point["quantity"] for point in quantity["points"]] == [100, 90]
    periods = await read(ticket + "/sale-periods", "/v1/tickets/408218/sale-periods")
    assert periods["salePeriods"][0]["id"] == 70127
    feed = await read("/v1/changes", "/v1/changes", ticketId="408218")
    assert {"path": "quantity", "old": 100, "new": 90}.items() <= feed["items"][0].items()
    assert "quantity" in await read("/v1/changes", "/v1/changes", format="csv")
    assert "quantity" in await read("/v1/changes", "/v1/changes", format="ndjson")
    unauthorized = await client.get("/v1/tickets/408218")
    assert (await documented(unauthorized, ticket))["error"] == "unauthorized"


async def test_admin_and_operations_answers_match_the_document(
    client: Client, fixture_bodies: dict[str, bytes]
) -> None:
    async def call(url: str, template: str = "", method: str = "get", **kwargs: Any) -> Any:
        response = await client.request(method.upper(), url, **kwargs)
        return await documented(response, template or url, method)

    empty = await call("/v1/audit/checkpoint", headers=ADMIN)
    assert empty == {"position": 0, "hash": None}
    await client.post(INTAKE, data=fixture_bodies["ticket-408218"], headers=WEBHOOK)
    await client.post(INTAKE, data=b"[]", headers=WEBHOOK)
    assert (await call("/v1/audit/checkpoint", headers=ADMIN))["position"] == 1
    assert (await call("/v1/audit/verify", headers=ADMIN))["ok"] is True
    projections = await call("/v1/projections", headers=ADMIN)
    assert "tickets" in [projection["name"] for projection in projections]
    rebuild = "/v1/projections/{name}/rebuild"
    started = await call("/v1/projections/tickets/rebuild", rebuild, "post", headers=ADMIN)
    assert started["state"] == "rebuilding"
    unknown = await call("/v1/projections/nope/rebuild", rebuild, "post", headers=ADMIN)
    assert unknown["error"] == "not_found"
    quarantined = await call("/v1/quarantine", headers=ADMIN)
    item_id = quarantined["items"][0]["id"]
    item = await call(f"/v1/quarantine/{item_id}", "/v1/quarantine/{id}", headers=ADMIN)
    assert item["body"] == "[]"
    assert (await call("/v1/quarantine", headers=READ))["error"] == "forbidden"
    bad_limit = await call("/v1/quarantine", params={"limit": "0"}, headers=ADMIN)
    assert bad_limit["error"] == "bad_request"
    assert (await call("/healthz"))["status"] == "ok"
    assert (await call("/readyz"))["status"] == "ready"
    assert "# TYPE" in await call("/metrics")
    assert await call("/openapi.json") == SPEC


async def test_docs_page_lists_every_operation(client: Client) -> None:
    response = await client.get("/docs")
    page = await documented(response, "/docs")
    assert page.startswith("<!doctype html>")
    for method, path in spec_operations():
        operation_id = SPEC["paths"][path][method]["operationId"]
        assert f'id="{operation_id}"' in page
        assert f"<code>{path}</code></h2>" in page
    assert "://" not in page, "the page loads nothing from elsewhere"
