"""docs/contract.md and the served OpenAPI document name the same routes, both ways; every route
README.md names is served; the contract and README.md list every setting.

The contract's routes are the first cells of its route tables (a table whose first column is
`route`; a cell without a method is a `GET`) and the routes its headings name. Query parameters
a cell names (`/v1/tickets?eventId=&type=`) must be parameters of that operation.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pytest_aiohttp import AiohttpClient

from service.settings import Settings
from tests.helpers import Client, app_clients, get_json, make_settings

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = ROOT / "docs" / "contract.md"
README = ROOT / "README.md"
SETTING = re.compile(r"`(TICKET_AUDIT_[A-Z_]+)`")
# A route as README.md writes one in prose: `GET /v1/tickets/408218?at=...`, `/v1/quarantine...`.
MENTIONED_ROUTE = re.compile(
    r"`(?:(GET|POST) )?(/(?:v1|webhooks|healthz|readyz|metrics|openapi|docs)[^`?\s]*)"
)
ROUTE = re.compile(r"`(?:(GET|POST) )?(/[^`?\s]*)(?:\?([^`]*))?`")
HEADING_ROUTE = re.compile(r"`(GET|POST) (/[^`?\s]*)`")

Operation = tuple[str, str]


def contract_routes(text: str) -> dict[Operation, set[str]]:
    """Each (method, path) the contract's route tables and headings name, with the query
    parameters named beside it."""
    routes: dict[Operation, set[str]] = {}
    in_route_table = False
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("#"):
            for method, path in HEADING_ROUTE.findall(line):
                routes.setdefault((method.lower(), path), set())
        if not line.startswith("|"):
            in_route_table = False
        elif cells[0] == "route":
            in_route_table = True
        elif in_route_table and (found := ROUTE.match(cells[0])):
            method, path, query = found.groups()
            names = {pair.split("=")[0] for pair in (query or "").split("&") if pair}
            routes.setdefault(((method or "GET").lower(), path), set()).update(names)
    return routes


@pytest.fixture
async def openapi(tmp_path: Path, aiohttp_client: AiohttpClient) -> AsyncIterator[dict[str, Any]]:
    async with app_clients(aiohttp_client) as serve:
        client: Client = await serve(make_settings(f"sqlite:///{tmp_path / 'log.sqlite3'}"))
        yield await get_json(client, "/openapi.json")


def test_the_contract_names_its_routes() -> None:
    routes = contract_routes(CONTRACT.read_text())

    assert ("post", "/webhooks/ingresse") in routes
    assert routes[("get", "/v1/tickets/{ticketId}")] >= {"at", "knownAt", "version"}
    assert ("post", "/v1/projections/{name}/rebuild") in routes


async def test_the_contract_and_the_openapi_document_name_the_same_routes(
    openapi: dict[str, Any],
) -> None:
    served = {(method, path) for path, item in openapi["paths"].items() for method in item}
    contract = set(contract_routes(CONTRACT.read_text()))

    assert sorted(contract - served) == [], "in docs/contract.md, not in /openapi.json"
    assert sorted(served - contract) == [], "in /openapi.json, not in docs/contract.md"


async def test_the_query_parameters_the_contract_names_are_in_the_openapi_document(
    openapi: dict[str, Any],
) -> None:
    for (method, path), names in contract_routes(CONTRACT.read_text()).items():
        documented = {parameter["name"] for parameter in parameters(openapi, method, path)}
        assert names <= documented, f"{method.upper()} {path}: {names - documented}"


async def test_every_route_the_readme_names_is_served(openapi: dict[str, Any]) -> None:
    served = [
        (method, re.compile(re.sub(r"\{[^/}]+\}", "[^/]+", path)), path)
        for path, item in openapi["paths"].items()
        for method in item
    ]
    mentioned = MENTIONED_ROUTE.findall(README.read_text())
    assert len(mentioned) > 20

    for method, route in mentioned:
        # `/v1/quarantine...` and a bare `/v1` name a family of routes.
        prefix = route.removesuffix("...")
        family = prefix != route or prefix.count("/") == 1
        found = [
            path
            for served_method, pattern, path in served
            if (not method or method.lower() == served_method)
            and (pattern.fullmatch(prefix) or (family and path.startswith(prefix)))
        ]
        assert found, f"README.md names {method} {route}, which /openapi.json does not serve"


def parameters(openapi: dict[str, Any], method: str, path: str) -> list[dict[str, Any]]:
    """The operation's parameters, each `$ref` to the shared components followed."""
    found = []
    for parameter in openapi["paths"][path][method].get("parameters", []):
        if "$ref" in parameter:
            name = parameter["$ref"].removeprefix("#/components/parameters/")
            parameter = openapi["components"]["parameters"][name]
        found.append(parameter)
    return found


def settings_tables(text: str) -> set[str]:
    """The variables named in the first column of each table whose first column is `variable`."""
    names: set[str] = set()
    in_settings_table = False
    for line in text.splitlines():
        first = line.strip().strip("|").split("|")[0].strip()
        if not line.startswith("|"):
            in_settings_table = False
        elif first == "variable":
            in_settings_table = True
        elif in_settings_table:
            names.update(SETTING.findall(first))
    return names


@pytest.mark.parametrize("page", [CONTRACT, README], ids=["contract", "readme"])
def test_every_setting_is_in_the_settings_table(page: Path) -> None:
    settings = {f"TICKET_AUDIT_{name.upper()}" for name in Settings.model_fields}

    assert settings_tables(page.read_text()) == settings
