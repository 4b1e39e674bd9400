"""A client for the tickets read model: post deliveries, then read what they led to."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from projections.store.generations import ProjectionStores
from service.application import TicketAudit
from service.settings import DatabaseLocation
from service.storage import open_log
from tests.helpers import INTAKE, Client, delivery

Params = Mapping[str, str | int]

# Source times the tests place versions at; Ingresse sends them without an offset.
EARLY, MIDDLE, LATE = "2024-05-17T10:00:00", "2024-05-17T12:00:00", "2024-05-17T14:00:00"
GROUP_ID = 346868
ADMIN_PATHS = ("/v1/projections", "/v1/audit/", "/v1/quarantine")


@dataclass(frozen=True)
class Recorded:
    """What the intake answered for one delivery: the version and position it became."""

    status: int
    ticket_id: int
    version: int
    position: int


class TicketApi:
    """Posts deliveries, remembers the highest position, and reads at least up to it."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.head = 0

    async def post_body(self, body: bytes) -> Recorded:
        response = await self.client.post(INTAKE, data=body)
        answer = json.loads(await response.read())
        assert response.status in (200, 201), answer
        self.head = max(self.head, answer["position"])
        return Recorded(response.status, answer["ticketId"], answer["version"], answer["position"])

    async def deliver(self, ticket_id: int, timestamp: str, **fields: Any) -> Recorded:
        return await self.post_body(delivery(ticket_id, timestamp=timestamp, **fields))

    async def raw(self, path: str, params: Params | None = None) -> tuple[int, bytes]:
        """Status and body bytes of a read that waits for every delivery posted so far.

        Admin routes take no `minPosition`: they answer from the log or about the projections.
        """
        waits = not path.startswith(ADMIN_PATHS)
        query = {"minPosition": str(self.head)} if waits else {}
        query.update({k: str(v) for k, v in (params or {}).items()})
        response = await self.client.get(path, params=query)
        assert response.content_type == "application/json", await response.text()
        return response.status, await response.read()

    async def read(self, path: str, params: Params | None = None, *, status: int = 200) -> Any:
        actual, body = await self.raw(path, params)
        decoded = json.loads(body)
        assert actual == status, (path, params, decoded)
        return decoded

    async def ticket(self, ticket_id: int, **params: str | int) -> Any:
        return await self.read(f"/v1/tickets/{ticket_id}", params)

    async def all_pages(self, params: Params | None = None, limit: int = 1) -> list[Any]:
        """Every item of `/v1/tickets`, walking `next` cursors `limit` items at a time."""
        items: list[Any] = []
        query: dict[str, str | int] = {**(params or {}), "limit": limit}
        while True:
            page = await self.read("/v1/tickets", query)
            assert len(page["items"]) <= limit
            items.extend(page["items"])
            if page["next"] is None:
                return items
            query["cursor"] = page["next"]


async def snapshot_answers(api: TicketApi, ticket_ids: Iterable[int]) -> dict[str, bytes]:
    """Every ticket route's answer (status and body bytes), to compare read models exactly."""
    answers: dict[str, bytes] = {}

    async def keep(path: str, params: Params | None = None) -> int:
        status, body = await api.raw(path, params)
        answers[f"{path} {dict(params or {})}"] = b"%d " % status + body
        return status

    for ticket_id in sorted(set(ticket_ids)):
        await keep(f"/v1/tickets/{ticket_id}")
        await keep(f"/v1/tickets/{ticket_id}/children")
        version = 1
        while await keep(f"/v1/tickets/{ticket_id}", {"version": version}) == 200:
            version += 1
    await keep("/v1/tickets", {"limit": 1000})
    return answers


async def seed_history(api: TicketApi, fixture_bodies: Mapping[str, bytes]) -> list[int]:
    """Late deliveries, source-time ties, a group and its children; the ticket ids involved."""
    await api.post_body(fixture_bodies["group-346868"])
    for ticket_id in (1, 2, 3):
        parent = GROUP_ID if ticket_id == 2 else None
        for quantity, timestamp in enumerate((MIDDLE, EARLY, LATE, MIDDLE)):
            await api.deliver(
                ticket_id, timestamp, eventId=10 + ticket_id % 2, parent=parent, quantity=quantity
            )
    await api.post_body(fixture_bodies["ticket-408218"])
    return [1, 2, 3, GROUP_ID, 346869, 408218]


@contextmanager
def opened(database_url: str) -> Iterator[tuple[TicketAudit, ProjectionStores]]:
    """The log and the projections' storage, as the CLI opens them while no service runs."""
    location = DatabaseLocation.parse(database_url)
    log = open_log(location)
    storage = ProjectionStores(location)
    try:
        yield log, storage
    finally:
        storage.close()
        log.close()


async def record(api: TicketApi, data: dict[str, Any], timestamp: str) -> int:
    """Post `data` in an envelope; the position of the event it became."""
    body = json.dumps({"webhook": "ticket", "data": data, "timestamp": timestamp}).encode()
    recorded = await api.post_body(body)
    assert recorded.status == 201
    return recorded.position


def generation_exists(database_url: str, generation: int, name: str = "tickets") -> bool:
    """Whether the tables of that generation of the projection are still there."""
    location = DatabaseLocation.parse(database_url)
    if location.kind == "sqlite":
        return Path(location.sibling_sqlite_path(f"{name}.g{generation}")).exists()
    with psycopg.connect(location.postgres_conninfo()) as connection:
        found = connection.execute(
            "SELECT 1 FROM information_schema.tables "
            "WHERE table_schema = %s AND table_name LIKE %s",
            (location.schema, f"{name}\\_g{generation}\\_%"),
        ).fetchone()
    return found is not None


# A sale period as Ingresse sends one.
START = "2020-10-10T10:10:00-03:00"
FINISH = "2020-10-20T10:20:00-03:00"


def period(
    period_id: int, *, finish: str = FINISH, available: bool = True, category: int = 1
) -> dict[str, Any]:
    return {
        "id": period_id,
        "appCategoryId": category,
        "start": START,
        "finish": finish,
        "available": available,
    }


def as_applied(old: Any, new: Any) -> Any:
    """`new` as `apply_changes(old, diff(old, new))` rebuilds it: an item added to an id-keyed
    list with no order change comes after the items kept, since adds carry no position."""
    if isinstance(old, dict) and isinstance(new, dict):
        return {
            key: as_applied(old[key], value) if key in old else value for key, value in new.items()
        }
    old_ids, new_ids = _ids(old), _ids(new)
    if old_ids is None or new_ids is None:
        return new
    old_items = dict(zip(old_ids, old, strict=True))
    items = [
        as_applied(old_items[item_id], item) if item_id in old_items else item
        for item_id, item in zip(new_ids, new, strict=True)
    ]
    if [i for i in old_ids if i in new_ids] != [i for i in new_ids if i in old_items]:
        return items
    kept = [item for item_id, item in zip(new_ids, items, strict=True) if item_id in old_items]
    return kept + [
        item for item_id, item in zip(new_ids, items, strict=True) if item_id not in old_items
    ]


def _ids(value: Any) -> list[int | str] | None:
    """The ids of an id-keyed list in its order (as `projections.changes` tells one), or None."""
    if not isinstance(value, list):
        return None
    found: list[int | str] = []
    for item in value:
        item_id = item.get("id") if isinstance(item, dict) else None
        if (type(item_id) is not int and type(item_id) is not str) or item_id in found:
            return None
        found.append(item_id)
    return found
