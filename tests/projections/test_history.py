"""A ticket's history through the real app: changes, late deliveries, filters, pages."""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections.diff.changes import apply_changes, json_equal
from projections.history import queries as history_queries
from tests.helpers import Serve, delivery, make_settings, run_cli
from tests.projections.helpers import Recorded, TicketApi, as_applied, seed_history

TICKET = 408218


def at(minute: int) -> str:
    """A source time as Ingresse sends it (no offset); the service reads it as UTC."""
    return f"2024-05-17T10:{minute:02d}:00"


def answered(minute: int) -> str:
    return f"2024-05-17T10:{minute:02d}:00+00:00"


def ticket_data(fixture_bodies: dict[str, bytes]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(fixture_bodies["ticket-408218"])["data"]
    return data


async def post_data(api: TicketApi, data: dict[str, Any], minute: int) -> Recorded:
    body = {"webhook": "ticket", "data": data, "timestamp": at(minute)}
    return await api.post_body(json.dumps(body).encode())


async def history(api: TicketApi, ticket_id: int, **params: str | int) -> list[dict[str, Any]]:
    """Every version of the history, walking `next` cursors."""
    items: list[dict[str, Any]] = []
    query: dict[str, str | int] = dict(params)
    while True:
        page = await api.read(f"/v1/tickets/{ticket_id}/history", query)
        items += page["items"]
        if page["next"] is None:
            return items
        query["cursor"] = page["next"]


def version(recorded: Recorded, minute: int, changes: list[Any], **flags: bool) -> dict[str, Any]:
    """An expected history item; `receivedAt` is checked apart, by `without_received`."""
    return {
        "version": recorded.version,
        "position": recorded.position,
        "sourceTimestamp": answered(minute),
        "late": flags.get("late", False),
        **({"created": True} if flags.get("created") else {}),
        "changes": changes,
    }


def without_received(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for item in items:
        assert datetime.fromisoformat(item["receivedAt"]).utcoffset() is not None
    return [{k: v for k, v in item.items() if k != "receivedAt"} for item in items]


def replace(path: str, old: Any, new: Any) -> dict[str, Any]:
    return {"path": path, "op": "replace", "old": old, "new": new}


async def test_fixture_ticket_changes_edit_by_edit(
    api: TicketApi, fixture_bodies: dict[str, bytes]
) -> None:
    data = ticket_data(fixture_bodies)
    data["attributes"] = []
    first = await post_data(api, data, 0)
    data["value"]["price"] = 12
    data["attributes"] = {}
    priced = await post_data(api, data, 1)
    data["salePeriods"][0]["finish"] = "2020-10-30T10:20:00-03:00"
    finished = await post_data(api, data, 2)
    added_period = {**data["salePeriods"][0], "id": 70128}
    data["salePeriods"].append(added_period)
    added = await post_data(api, data, 3)
    removed_period = data["salePeriods"].pop(0)
    removed = await post_data(api, data, 4)

    items = await history(api, TICKET)

    assert without_received(items) == [
        version(first, 0, [], created=True),
        version(priced, 1, [replace("value.price", 10, 12)]),
        version(
            finished,
            2,
            [
                replace(
                    "salePeriods[id=70127].finish",
                    "2020-10-20T10:20:00-03:00",
                    "2020-10-30T10:20:00-03:00",
                )
            ],
        ),
        version(
            added,
            3,
            [{"path": "salePeriods[id=70128]", "op": "add", "old": None, "new": added_period}],
        ),
        version(
            removed,
            4,
            [{"path": "salePeriods[id=70127]", "op": "remove", "old": removed_period, "new": None}],
        ),
    ]


async def test_late_delivery_lands_between_and_its_successor_is_recomputed(
    api: TicketApi,
) -> None:
    first = await api.deliver(7, at(0), quantity=1)
    last = await api.deliver(7, at(20), quantity=3)
    assert (await history(api, 7))[1]["changes"] == [replace("quantity", 1, 3)]

    middle = await api.deliver(7, at(10), quantity=2)
    tie = await api.deliver(7, at(20), quantity=4)

    assert without_received(await history(api, 7)) == [
        version(first, 0, [], created=True),
        version(middle, 10, [replace("quantity", 1, 2)], late=True),
        version(last, 20, [replace("quantity", 2, 3)]),
        version(tie, 20, [replace("quantity", 3, 4)]),
    ]


async def test_late_delivery_before_the_first_becomes_the_created_version(
    api: TicketApi,
) -> None:
    old_first = await api.deliver(7, at(10), quantity=2, name="pista")
    new_first = await api.deliver(7, at(5), quantity=1, name="pista")

    assert without_received(await history(api, 7)) == [
        version(new_first, 5, [], created=True, late=True),
        version(old_first, 10, [replace("quantity", 1, 2)]),
    ]


async def test_since_until_and_path_filters(api: TicketApi) -> None:
    await api.deliver(7, at(0), quantity=1, value={"price": 10})
    await api.deliver(7, at(10), quantity=2, value={"price": 10})
    await api.deliver(7, at(20), quantity=2, value={"price": 12})
    await api.deliver(7, at(30), quantity=3, value={"price": 12}, salePeriods=[{"id": 5}])

    async def versions(**params: str) -> list[int]:
        return [item["version"] for item in await history(api, 7, **params)]

    assert await versions(since=at(10), until=at(20)) == [2, 3]
    assert await versions(since="2024-05-17T07:10:00-03:00") == [2, 3, 4]
    assert await versions(until=at(0)) == [1]
    assert await versions(path="quantity") == [2, 4]
    assert await versions(path="value") == [3]
    assert await versions(path="value.price", since=at(25)) == []
    assert await versions(path="salePeriods[id=5].start") == [4]
    assert await versions(path="") == [2, 3, 4]
    assert await versions(since=at(40)) == []


@pytest.mark.parametrize("scan_batch", [history_queries.SCAN_BATCH, 2])
async def test_pages_follow_the_cursor(
    api: TicketApi, monkeypatch: pytest.MonkeyPatch, scan_batch: int
) -> None:
    monkeypatch.setattr(history_queries, "SCAN_BATCH", scan_batch)
    for minute in (50, 10, 40, 20, 30, 0):
        await api.deliver(7, at(minute), quantity=minute, extra=minute // 20)
    whole = await history(api, 7)
    assert [item["sourceTimestamp"] for item in whole] == [
        answered(minute) for minute in (0, 10, 20, 30, 40, 50)
    ]

    for limit in (1, 2, 4):
        assert await history(api, 7, limit=limit) == whole
        first_page = await api.read("/v1/tickets/7/history", {"limit": limit})
        assert len(first_page["items"]) == limit
    extra_changed = [item for item in whole if item["version"] in (4, 3)]
    assert [item["changes"][-1]["path"] for item in extra_changed] == ["extra", "extra"]
    for limit in (1, 3):
        assert await history(api, 7, path="extra", limit=limit) == extra_changed


async def test_unknown_ticket_and_bad_parameters(api: TicketApi) -> None:
    await api.deliver(7, at(0), quantity=1)
    assert await api.read("/v1/tickets/8/history", status=404) == {"error": "not_found"}
    for params in (
        {"cursor": "nonsense"},
        {"cursor": "eyJhZnRlciI6WzEsdHJ1ZV19"},  # {"after":[1,true]}
        {"path": "value..price"},
        {"since": "yesterday"},
        {"limit": 0},
    ):
        answer = await api.read("/v1/tickets/7/history", params, status=400)
        assert answer["error"] == "bad_request", params
    assert (await api.read("/v1/tickets/x/history", status=400))["error"] == "bad_request"


async def history_answers(api: TicketApi, ticket_ids: list[int]) -> list[bytes]:
    paths = [f"/v1/tickets/{ticket_id}/history" for ticket_id in ticket_ids]
    return [b"%d %s" % await api.raw(path) for path in [*paths, "/v1/changes"]]


async def test_rebuild_answers_byte_for_byte_as_before(
    serve: Serve, database_url: str, fixture_bodies: dict[str, bytes]
) -> None:
    settings = make_settings(database_url)
    api = TicketApi(await serve(settings))
    ticket_ids = await seed_history(api, fixture_bodies)
    before = await history_answers(api, ticket_ids)
    assert b'"late":true' in before[0]
    # The feed holds recomputed rows and the rows they replaced, however a rebuild batches.
    assert re.search(rb'"recomputedAt":\d+,"supersededBy":null', before[-1])
    assert re.search(rb'"supersededBy":\d', before[-1])
    await api.client.close()

    result = await asyncio.to_thread(run_cli, "rebuild", "history", database_url=database_url)

    assert result.returncode == 0, result.stderr
    rebuilt = TicketApi(await serve(settings))
    rebuilt.head = api.head
    assert await history_answers(rebuilt, ticket_ids) == before


FREE_FORM = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(-3, 3, allow_nan=False)
    | st.text(max_size=3),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=6,
)
SALE_PERIOD = st.fixed_dictionaries(
    {"id": st.integers(1, 4), "finish": st.sampled_from(["2020-10-20", "2020-10-30"])}
)
TICKET_DATA = st.fixed_dictionaries(
    {
        "quantity": st.integers(0, 2),
        "value": st.fixed_dictionaries({"price": st.sampled_from([10, 10.0, 12.5])}),
        "attributes": st.sampled_from([[], {}, {"maximum": 1}]),
        "salePeriods": st.lists(SALE_PERIOD, max_size=3, unique_by=lambda item: item["id"]),
    },
    optional={"note": FREE_FORM},
)
DELIVERIES = st.lists(st.tuples(st.integers(0, 4), TICKET_DATA), min_size=1, max_size=6)
ticket_ids = itertools.count(1000)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(deliveries=DELIVERIES)
async def test_changes_rebuild_each_version_from_the_one_before(
    api: TicketApi, deliveries: list[tuple[int, dict[str, Any]]]
) -> None:
    ticket_id = next(ticket_ids)
    recorded_minutes: list[int] = []
    for minute, fields in deliveries:
        recorded = await api.deliver(ticket_id, at(minute), **copy.deepcopy(fields))
        if recorded.status == 201:
            recorded_minutes.append(minute)

    items = await history(api, ticket_id)

    assert sorted(item["version"] for item in items) == list(range(1, len(recorded_minutes) + 1))
    for item in items:
        minute = recorded_minutes[item["version"] - 1]
        assert item["late"] == any(m > minute for m in recorded_minutes[: item["version"] - 1])
    order = [(item["sourceTimestamp"], item["position"]) for item in items]
    assert order == sorted(order)
    assert items[0]["created"] is True
    assert items[0]["changes"] == []
    assert all("created" not in item for item in items[1:])
    previous = (await api.ticket(ticket_id, version=items[0]["version"]))["snapshot"]
    for item in items[1:]:
        snapshot = (await api.ticket(ticket_id, version=item["version"]))["snapshot"]
        rebuilt = apply_changes(previous, item["changes"])
        assert json_equal(rebuilt, as_applied(previous, snapshot)), item
        previous = snapshot


async def test_a_version_at_the_epoch_finds_its_neighbours_in_a_batch(
    serve: Serve, database_url: str, tmp_path: Path
) -> None:
    """1970-01-01T00:00:00Z is source time 0, a time like any other: a batch that holds a
    version there and a later one still finds the recorded version before it."""
    epoch, later, latest = "1970-01-01T00:00:00", "1970-01-01T00:00:30", "1970-01-01T00:00:50"
    settings = make_settings(database_url)
    api = TicketApi(await serve(settings))
    first = await api.deliver(7, epoch, quantity=1)
    await api.deliver(7, later, quantity=3)
    await history(api, 7)
    await api.client.close()
    # Recorded while no projection runs, so that the next one applies both in one batch.
    deliveries = tmp_path / "deliveries.ndjson"
    deliveries.write_bytes(
        delivery(7, timestamp=epoch, quantity=2) + b"\n" + delivery(7, timestamp=latest) + b"\n"
    )
    imported = await asyncio.to_thread(
        run_cli, "import", str(deliveries), database_url=database_url
    )
    assert imported.returncode == 0, imported.stderr

    live = TicketApi(await serve(settings))
    live.head = first.position + 3
    answers = await history_answers(live, [7])
    items = json.loads(answers[0].partition(b" ")[2])["items"]
    assert [item["version"] for item in items] == [1, 3, 2, 4]
    assert "created" not in items[1]
    assert items[1]["changes"] == [replace("quantity", 1, 2)]
    await live.client.close()

    rebuilt = await asyncio.to_thread(run_cli, "rebuild", "history", database_url=database_url)
    assert rebuilt.returncode == 0, rebuilt.stderr
    again = TicketApi(await serve(settings))
    again.head = live.head
    assert await history_answers(again, [7]) == answers
