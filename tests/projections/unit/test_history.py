"""The history read model's `apply`, read back through `history_queries`: each version's
changes against the one before it in source-time order, and the change feed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from projections.history import queries as history_queries
from projections.history.projection import HistoryProjection
from projections.history.queries import FEED_START, FeedFilter, PathFilter
from projections.read_model import LoggedChange, epoch_micros
from tests.projections.unit.helpers import Apply, Log, as_json, at, iso, read_model, received


@pytest.fixture
def history(tmp_path: Path, log: Log) -> Iterator[HistoryProjection]:
    with read_model(HistoryProjection, tmp_path, log) as projection:
        yield projection


def versions(history: HistoryProjection, ticket_id: int, **filters: Any) -> Any:
    """The ticket's history items as a client reads them; None for an unknown ticket."""
    wanted: dict[str, Any] = {"since_us": None, "until_us": None, "path": None, "after": None}
    found = history_queries.ticket_history(
        history.view, ticket_id, **{**wanted, **filters, "count": 100}
    )
    return None if found is None else as_json([item for _, item in found])


def feed(history: HistoryProjection, feed_filter: FeedFilter | None = None) -> Any:
    found = history_queries.feed_page(history.view, feed_filter or FeedFilter(), FEED_START, 100)
    return as_json([item for _, item in found])


def item(
    change: LoggedChange, changes: list[Any], *, late: bool = False, created: bool = False
) -> dict[str, Any]:
    """The history item `change` should make."""
    return {
        "version": change.version,
        "position": change.position,
        "sourceTimestamp": change.source_iso,
        "receivedAt": change.received_iso,
        "late": late,
        **({"created": True} if created else {}),
        "changes": changes,
    }


def replace(path: str, old: Any, new: Any) -> dict[str, Any]:
    return {"path": path, "op": "replace", "old": old, "new": new}


def test_a_first_version_is_created_with_no_changes_and_no_feed_rows(
    history: HistoryProjection, log: Log, apply: Apply
) -> None:
    first = log.change(7, 10, quantity=1)
    apply(history, [first])

    assert versions(history, 7) == [
        {
            "version": 1,
            "position": 1,
            "sourceTimestamp": iso(10),
            "receivedAt": received(1).isoformat(),
            "late": False,
            "created": True,
            "changes": [],
        }
    ]
    assert feed(history) == []
    assert versions(history, 8) is None


def test_an_update_lists_its_changes_and_feeds_them(
    history: HistoryProjection, log: Log, apply: Apply
) -> None:
    first = log.change(7, 10, eventId=3, quantity=1, name="Pista")
    second = log.change(7, 20, eventId=3, quantity=2, salePeriods=[{"id": 5}])
    apply(history, [first, second])

    added = {"path": "salePeriods", "op": "add", "old": None, "new": [{"id": 5}]}
    removed = {"path": "name", "op": "remove", "old": "Pista", "new": None}
    assert versions(history, 7) == [
        item(first, [], created=True),
        item(second, [replace("quantity", 1, 2), added, removed]),
    ]
    feed_row = {
        "position": 2,
        "ticketId": 7,
        "eventId": 3,
        "version": 2,
        "sourceTimestamp": iso(20),
        "receivedAt": received(2).isoformat(),
    }
    current = {"recomputedAt": None, "supersededBy": None}
    assert feed(history) == [
        {**feed_row, **replace("quantity", 1, 2), **current},
        {**feed_row, **added, **current},
        {**feed_row, **removed, **current},
    ]


def test_a_late_delivery_lands_between_and_its_successor_is_recomputed(
    history: HistoryProjection, log: Log, apply: Apply
) -> None:
    first, last = log.change(7, 0, quantity=1), log.change(7, 20, quantity=3)
    middle, tie = log.change(7, 10, quantity=2), log.change(7, 20, quantity=4)
    apply(history, [first, last, middle, tie])

    assert versions(history, 7) == [
        item(first, [], created=True),
        item(middle, [replace("quantity", 1, 2)], late=True),
        item(last, [replace("quantity", 2, 3)]),
        item(tie, [replace("quantity", 3, 4)]),
    ]
    # The successor's changes come again after the late delivery's own, at its position in
    # the feed, and the row they replace is marked; the same however the log was batched.
    assert [
        (row["position"], row["old"], row["new"], row["recomputedAt"], row["supersededBy"])
        for row in feed(history)
    ] == [
        (2, 1, 3, None, 3),
        (3, 1, 2, None, None),
        (2, 2, 3, 3, None),
        (4, 3, 4, None, None),
    ]


def test_a_version_recomputed_twice_keeps_every_row_in_the_feed(
    history: HistoryProjection, log: Log, apply: Apply
) -> None:
    first, last = log.change(7, 0, quantity=1), log.change(7, 30, quantity=3)
    early, later = log.change(7, 10, quantity=2), log.change(7, 20, quantity=5)
    apply(history, [first, last, early, later])

    assert [
        (row["position"], row["old"], row["new"], row["recomputedAt"], row["supersededBy"])
        for row in feed(history)
    ] == [
        (2, 1, 3, None, 3),
        (3, 1, 2, None, None),
        (2, 2, 3, 3, 4),
        (4, 2, 5, None, None),
        (2, 5, 3, 4, None),
    ]
    current = [row for row in feed(history) if row["supersededBy"] is None]
    assert [change for version in versions(history, 7) for change in version["changes"]] == [
        {key: row[key] for key in ("path", "op", "old", "new")}
        for row in sorted(current, key=lambda row: row["sourceTimestamp"])
    ]


def test_a_late_delivery_before_the_first_becomes_the_created_version(
    history: HistoryProjection, log: Log, apply: Apply
) -> None:
    old_first, new_first = log.change(7, 10, quantity=2), log.change(7, 5, quantity=1)
    apply(history, [old_first, new_first])

    assert versions(history, 7) == [
        item(new_first, [], late=True, created=True),
        item(old_first, [replace("quantity", 1, 2)]),
    ]
    assert [(row["position"], row["version"]) for row in feed(history)] == [(1, 1)]


def test_a_late_delivery_of_another_ticket_leaves_this_one_alone(
    history: HistoryProjection, log: Log, apply: Apply
) -> None:
    changes = [
        log.change(7, 10, quantity=1),
        log.change(8, 30, quantity=1),
        log.change(7, 20, quantity=2),
        log.change(8, 0, quantity=5),
    ]
    apply(history, changes)

    assert versions(history, 7) == [
        item(changes[0], [], created=True),
        item(changes[2], [replace("quantity", 1, 2)]),
    ]
    assert versions(history, 8) == [
        item(changes[3], [], late=True, created=True),
        item(changes[1], [replace("quantity", 5, 1)]),
    ]


def test_filters_by_time_and_path_and_the_feed_by_ticket(
    history: HistoryProjection, log: Log, apply: Apply
) -> None:
    apply(
        history,
        [
            log.change(7, 0, quantity=1, value={"price": 10}),
            log.change(7, 10, quantity=2, value={"price": 10}),
            log.change(7, 20, quantity=2, value={"price": 12}),
            log.change(8, 20, quantity=1),
            log.change(8, 30, quantity=9),
        ],
    )

    def numbers(**filters: Any) -> list[int]:
        return [version["version"] for version in versions(history, 7, **filters)]

    assert numbers(since_us=epoch_micros(at(10))) == [2, 3]
    assert numbers(until_us=epoch_micros(at(10))) == [1, 2]
    assert numbers(path=PathFilter.parse("value.price")) == [3]
    assert numbers(path=PathFilter.parse("value")) == [3]
    assert numbers(path=PathFilter.parse("name")) == []
    assert [row["ticketId"] for row in feed(history)] == [7, 7, 8]
    assert [row["new"] for row in feed(history, FeedFilter(ticket_id=8))] == [9]


@pytest.mark.parametrize(
    "feed_filter",
    [
        FeedFilter(),
        FeedFilter(ticket_id=7),
        FeedFilter(event_id=3),
        FeedFilter(path=PathFilter.parse("value")),
    ],
    ids=["whole", "ticket", "event", "path"],
)
def test_the_feed_read_a_few_writes_at_a_time_is_the_feed_read_at_once(
    history: HistoryProjection, log: Log, apply: Apply, feed_filter: FeedFilter
) -> None:
    # Positions holding a version's own entries and a recomputed successor's after them,
    # versions without changes, and a ticket of another event in between.
    apply(
        history,
        [
            log.change(7, 0, eventId=3, quantity=1, value={"price": 1}),
            log.change(7, 30, eventId=3, quantity=3, value={"price": 3}),
            log.change(8, 5, eventId=4, quantity=1),
            log.change(7, 10, eventId=3, quantity=2, value={"price": 2}),
            log.change(8, 6, eventId=4, quantity=1),
            log.change(7, 20, eventId=3, quantity=5, value={"price": 5}),
            log.change(8, 7, eventId=4, quantity=2),
            log.change(7, 40, eventId=3, quantity=5, value={"price": 6}),
        ],
    )
    whole = as_json(
        [entry for entry in history_queries.feed_page(history.view, feed_filter, FEED_START, 1000)]
    )
    assert whole

    for batch_size in (1, 2, 3):
        read: list[Any] = []
        after: history_queries.Key | None = FEED_START
        while after is not None:
            batch, after = history_queries.feed_batch(history.view, feed_filter, after, batch_size)
            read += batch
        assert as_json(read) == whole
        # A page may end in the middle of a position's entries; the next starts after it.
        paged: list[Any] = []
        page_after = FEED_START
        while page := history_queries.feed_page(history.view, feed_filter, page_after, 1):
            paged += page
            page_after = page[-1][0]
        assert as_json(paged) == whole
