"""The change feed through the real app: order, filters, pages, streams, and `export`."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import subprocess
from typing import Any

import pytest

from projections.history import queries as history_queries
from tests.helpers import TICKET_AUDIT, cli_env, create_log, run_cli
from tests.projections.helpers import Recorded, TicketApi

CSV_COLUMNS = [
    "position",
    "ticketId",
    "eventId",
    "version",
    "sourceTimestamp",
    "receivedAt",
    "path",
    "op",
    "old",
    "new",
    "recomputedAt",
    "supersededBy",
]


def at(minute: int) -> str:
    return f"2024-05-17T10:{minute:02d}:00"


def row(
    recorded: Recorded,
    event_id: int | None,
    minute: int,
    *change: Any,
    recomputed_at: int | None = None,
    superseded_by: int | None = None,
) -> dict[str, Any]:
    """An expected feed item, without `receivedAt` (see `without_received`)."""
    path, op, old, new = change
    return {
        "position": recorded.position,
        "ticketId": recorded.ticket_id,
        "eventId": event_id,
        "version": recorded.version,
        "sourceTimestamp": f"2024-05-17T10:{minute:02d}:00+00:00",
        "path": path,
        "op": op,
        "old": old,
        "new": new,
        "recomputedAt": recomputed_at,
        "supersededBy": superseded_by,
    }


def without_received(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in item.items() if k != "receivedAt"} for item in items]


async def feed(api: TicketApi, **params: str | int) -> list[dict[str, Any]]:
    """Every item of the JSON feed, walking `next` cursors."""
    items: list[dict[str, Any]] = []
    query: dict[str, str | int] = dict(params)
    while True:
        page = await api.read("/v1/changes", query)
        assert len(page["items"]) <= int(query.get("limit", 100))
        items += page["items"]
        if page["next"] is None:
            return items
        query["cursor"] = page["next"]


async def streamed(
    api: TicketApi, content_type: str, headers: dict[str, str] | None = None, **params: str | int
) -> str:
    query = {"minPosition": str(api.head), **{k: str(v) for k, v in params.items()}}
    response = await api.client.get("/v1/changes", params=query, headers=headers)
    assert response.status == 200, await response.text()
    assert response.content_type == content_type
    return await response.text()


def parse_ndjson(text: str) -> list[dict[str, Any]]:
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def parse_csv(text: str) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    assert reader.fieldnames == CSV_COLUMNS
    return [
        {
            **entry,
            "position": int(entry["position"]),
            "ticketId": int(entry["ticketId"]),
            "eventId": int(entry["eventId"]) if entry["eventId"] else None,
            "version": int(entry["version"]),
            "old": json.loads(entry["old"]),
            "new": json.loads(entry["new"]),
            "recomputedAt": int(entry["recomputedAt"]) if entry["recomputedAt"] else None,
            "supersededBy": int(entry["supersededBy"]) if entry["supersededBy"] else None,
        }
        for entry in reader
    ]


async def seed(api: TicketApi) -> list[dict[str, Any]]:
    """Two tickets of two Ingresse events, interleaved; the feed they should give."""
    await api.deliver(7, at(0), eventId=3, quantity=1, value={"price": 10, "priceList": 1})
    await api.deliver(8, at(0), quantity=5, salePeriods=[{"id": 1, "finish": "a"}])
    a2 = await api.deliver(7, at(10), eventId=3, quantity=2, value={"price": 12, "priceList": 2})
    b2 = await api.deliver(8, at(10), quantity=5, salePeriods=[{"id": 1, "finish": "b"}])
    a3 = await api.deliver(7, at(20), eventId=3, quantity=2, value={"price": 12, "priceList": 3})
    b3 = await api.deliver(8, at(30), quantity=6, salePeriods=[])
    return [
        row(a2, 3, 10, "quantity", "replace", 1, 2),
        row(a2, 3, 10, "value.price", "replace", 10, 12),
        row(a2, 3, 10, "value.priceList", "replace", 1, 2),
        row(b2, None, 10, "salePeriods[id=1].finish", "replace", "a", "b"),
        row(a3, 3, 20, "value.priceList", "replace", 2, 3),
        row(b3, None, 30, "quantity", "replace", 5, 6),
        row(b3, None, 30, "salePeriods[id=1]", "remove", {"id": 1, "finish": "b"}, None),
    ]


async def test_feed_lists_changes_by_position_without_creations(api: TicketApi) -> None:
    expected = await seed(api)

    items = await feed(api)

    assert without_received(items) == expected
    assert all(item["receivedAt"].endswith("+00:00") for item in items)


async def test_feed_filters(api: TicketApi) -> None:
    expected = await seed(api)

    async def kept(**params: str | int) -> list[dict[str, Any]]:
        return without_received(await feed(api, **params))

    assert await kept(eventId=3) == expected[:3] + expected[4:5]
    assert await kept(ticketId=8) == [expected[3], *expected[5:]]
    assert await kept(path="value.price") == expected[1:2]
    assert await kept(path="value") == expected[1:3] + expected[4:5]
    assert await kept(path="salePeriods[id=1].finish") == [expected[3], expected[6]]
    assert await kept(since=at(10), until=at(20)) == expected[:5]
    assert await kept(since="2024-05-17T07:25:00-03:00", ticketId=7) == []
    assert await kept(eventId=3, path="quantity") == expected[:1]
    assert await kept(path="") == expected


async def test_integers_past_64_bits_come_back_whole_in_every_format(api: TicketApi) -> None:
    # One version's changes hold a huge integer beside ordinary values; the next's do not.
    huge = 2**70 + 1
    await api.deliver(7, at(0), quantity=1, value={"price": 10})
    v2 = await api.deliver(7, at(10), quantity=huge, value={"price": 11})
    v3 = await api.deliver(7, at(20), quantity=huge, value={"price": 12.5})
    expected = [
        row(v2, None, 10, "quantity", "replace", 1, huge),
        row(v2, None, 10, "value.price", "replace", 10, 11),
        row(v3, None, 20, "value.price", "replace", 11, 12.5),
    ]

    items = await feed(api)

    assert without_received(items) == expected
    ndjson = parse_ndjson(await streamed(api, "application/x-ndjson", format="ndjson"))
    assert ndjson == items
    assert parse_csv(await streamed(api, "text/csv", format="csv")) == items


@pytest.mark.parametrize("scan_batch", [history_queries.SCAN_BATCH, 2])
async def test_pages_and_streams_give_the_same_feed(
    api: TicketApi, monkeypatch: pytest.MonkeyPatch, scan_batch: int
) -> None:
    monkeypatch.setattr(history_queries, "SCAN_BATCH", scan_batch)
    await seed(api)
    whole = await feed(api)

    for limit in (1, 3):
        assert await feed(api, limit=limit) == whole
    assert await feed(api, limit=1, path="value") == [whole[1], whole[2], whole[4]]
    ndjson = "application/x-ndjson"
    assert parse_ndjson(await streamed(api, ndjson, format="ndjson")) == whole
    assert parse_ndjson(await streamed(api, ndjson, {"Accept": ndjson})) == whole
    assert parse_csv(await streamed(api, "text/csv", format="csv")) == whole
    assert parse_csv(await streamed(api, "text/csv", {"Accept": "text/csv"})) == whole
    by_path = await streamed(api, ndjson, format="ndjson", path="value", limit=1)
    assert parse_ndjson(by_path) == [whole[1], whole[2], whole[4]]
    assert parse_csv(await streamed(api, "text/csv", format="csv", ticketId=99)) == []
    json_page = await streamed(api, "application/json", {"Accept": "text/csv"}, format="json")
    assert json.loads(json_page)["items"] == whole[:100]


async def test_recomputed_changes_come_again_and_mark_the_rows_they_replace(
    api: TicketApi,
) -> None:
    await api.deliver(9, at(0), quantity=1)
    last = await api.deliver(9, at(20), quantity=3)
    assert without_received(await feed(api)) == [row(last, None, 20, "quantity", "replace", 1, 3)]

    middle = await api.deliver(9, at(10), quantity=2)
    old_first = await api.deliver(10, at(10), quantity=2)
    new_first = await api.deliver(10, at(5), quantity=1)

    assert without_received(await feed(api)) == [
        row(last, None, 20, "quantity", "replace", 1, 3, superseded_by=middle.position),
        row(middle, None, 10, "quantity", "replace", 1, 2),
        row(last, None, 20, "quantity", "replace", 2, 3, recomputed_at=middle.position),
        row(old_first, None, 10, "quantity", "replace", 1, 2, recomputed_at=new_first.position),
    ]


class Follower:
    """A reader that follows the feed with its cursor and never reads it from the start again.

    Pages that gave a `next` are kept; the last page (its `next` is null) is read again from
    the same cursor on the next poll. Of a version's rows it keeps those with the highest
    `recomputedAt` (null first): rows recomputed by a late delivery replace the older ones.
    """

    def __init__(self, api: TicketApi) -> None:
        self.api = api
        self.cursor: str | None = None
        self.kept: list[dict[str, Any]] = []
        self.tail: list[dict[str, Any]] = []

    async def poll(self) -> None:
        while True:
            query: dict[str, str | int] = {"limit": 2}
            if self.cursor is not None:
                query["cursor"] = self.cursor
            page = await self.api.read("/v1/changes", query)
            if page["next"] is None:
                self.tail = page["items"]
                return
            self.kept += page["items"]
            self.cursor = page["next"]

    def current(self) -> dict[tuple[int, int], list[dict[str, Any]]]:
        latest: dict[tuple[int, int], int] = {}
        rows: dict[tuple[int, int], list[dict[str, Any]]] = {}
        for item in [*self.kept, *self.tail]:
            key = (item["ticketId"], item["version"])
            recomputed_at = item["recomputedAt"] or 0
            if recomputed_at > latest.get(key, -1):
                latest[key], rows[key] = recomputed_at, []
            if recomputed_at == latest[key]:
                rows[key].append({k: item[k] for k in ("path", "op", "old", "new")})
        return rows


async def test_a_follower_ends_up_with_every_change_history_shows(api: TicketApi) -> None:
    follower = Follower(api)
    deliveries: list[tuple[int, int, dict[str, Any]]] = [
        (9, 0, {"quantity": 1, "value": {"price": 10}}),
        (9, 20, {"quantity": 3, "value": {"price": 10}}),
        (11, 0, {"quantity": 1}),
        (11, 20, {"quantity": 3}),
        (9, 10, {"quantity": 2, "value": {"price": 12}}),  # late: recomputes minute 20
        (9, 5, {"quantity": 7, "value": {"price": 12}}),  # late: recomputes minute 10
        (11, 10, {"quantity": 1}),  # late, no changes of its own: recomputes minute 20
        (10, 10, {"quantity": 2}),
        (10, 5, {"quantity": 1}),  # late, before the first: recomputes it
        (9, 30, {"quantity": 8, "value": {"price": 12}}),
    ]
    for ticket_id, minute, fields in deliveries:
        await api.deliver(ticket_id, at(minute), **fields)
        await follower.poll()

    expected: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for ticket_id in (9, 10, 11):
        history = await api.read(f"/v1/tickets/{ticket_id}/history")
        for item in history["items"]:
            if item["changes"]:
                expected[(ticket_id, item["version"])] = item["changes"]
    assert follower.current() == expected
    assert sum(len(changes) for changes in expected.values()) == 9
    # Whoever reads the feed whole again finds the replaced rows marked.
    whole = await feed(api)
    assert len(whole) == len(follower.kept) + len(follower.tail)
    current = [item for item in whole if item["supersededBy"] is None]
    assert len(current) == 9
    recomputed_at = {item["recomputedAt"] for item in whole} - {None}
    assert {item["supersededBy"] for item in whole} - {None} <= recomputed_at


async def test_bad_parameters(api: TicketApi) -> None:
    await seed(api)
    for params in (
        {"format": "xml"},
        {"eventId": "three"},
        {"cursor": "nonsense"},
        {"path": "value["},
        {"until": "soon"},
        {"limit": 1001},
    ):
        answer = await api.read("/v1/changes", params, status=400)
        assert answer["error"] == "bad_request", params


async def test_export_writes_the_feed(api: TicketApi, database_url: str) -> None:
    await seed(api)
    whole = await feed(api)

    ndjson = await asyncio.to_thread(run_cli, "export", database_url=database_url)
    filtered = await asyncio.to_thread(
        run_cli,
        *("export", "--format", "csv", "--event-id", "3", "--path", "value.priceList"),
        *("--since", at(15), "--until", "2024-05-17T07:20:00-03:00"),
        database_url=database_url,
    )
    by_ticket = await asyncio.to_thread(
        run_cli, "export", "--ticket-id", "8", database_url=database_url
    )
    bad_time = await asyncio.to_thread(
        run_cli, "export", "--since", "soon", database_url=database_url
    )

    assert (ndjson.returncode, ndjson.stderr) == (0, "")
    assert parse_ndjson(ndjson.stdout) == whole
    assert filtered.returncode == 0, filtered.stderr
    assert parse_csv(filtered.stdout) == [whole[4]]
    assert parse_ndjson(by_ticket.stdout) == [whole[3], whole[5], whole[6]]
    assert bad_time.returncode == 2
    assert bad_time.stderr == "ticket-audit: --since must be an ISO 8601 date-time\n"


def test_export_before_the_projection_exists_says_how_to_build_it(database_url: str) -> None:
    create_log(database_url)

    result = run_cli("export", database_url=database_url)

    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.count("\n") == 1
    assert "ticket-audit rebuild history" in result.stderr


# Keys whose change paths begin as a spreadsheet formula would, and the quantities -1 and -2.
FORMULA_KEYS = ("=SUM(A1:A9)", "+1+1", "@cmd", "\tlead", "\rlead", "-3")


def escaped(cell: str) -> str:
    return "'" + cell


async def formula_rows(api: TicketApi) -> None:
    await api.deliver(-5, at(0), quantity=-1, **dict.fromkeys(FORMULA_KEYS, 1))
    await api.deliver(-5, at(10), quantity=-2, **dict.fromkeys(FORMULA_KEYS, "=1+1"))


def expect_formulas_escaped(text: str) -> None:
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    by_path = {entry["path"]: entry for entry in rows}
    assert set(by_path) == {*map(escaped, FORMULA_KEYS), "quantity"}
    quantity = by_path["quantity"]
    assert (quantity["ticketId"], quantity["old"], quantity["new"]) == ("'-5", "'-1", "'-2")
    # A JSON string is written with its quotes, so it never begins as a formula.
    assert {entry["new"] for entry in rows if entry["path"] != "quantity"} == {'"=1+1"'}
    for entry in rows:
        for cell in entry.values():
            assert not cell.startswith(history_queries.FORMULA_TRIGGERS), entry


async def test_csv_cells_that_could_start_a_formula_are_escaped(
    api: TicketApi, database_url: str
) -> None:
    await formula_rows(api)

    expect_formulas_escaped(await streamed(api, "text/csv", format="csv"))
    # Bytes, not text: universal newlines would turn the `\r` of a cell into `\n`.
    exported = await asyncio.to_thread(
        subprocess.run,
        [TICKET_AUDIT, "export", "--format", "csv"],
        env=cli_env(database_url),
        capture_output=True,
        check=False,
    )
    assert exported.returncode == 0, exported.stderr
    expect_formulas_escaped(exported.stdout.decode())
