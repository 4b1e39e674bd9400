"""A feed that meets an event its read model cannot apply parks it and applies the rest; a
storage failure is left to the caller to retry."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import pytest
from eventsourcing.persistence import (
    ApplicationRecorder,
    IntegrityError,
    OperationalError,
)

from projections.read_model import LoggedChange
from projections.runtime.feed import ProjectionFeed
from projections.runtime.log_reader import DecodedBatch, LogMapper, LogReader
from projections.store.parked import parked_count, parked_for
from projections.store.views import SQLiteProjectionStore
from projections.tickets import queries as ticket_queries
from projections.tickets.projection import TicketsProjection
from service.settings import DatabaseLocation
from tests.projections.faults import FAILS_ONCE_IN, REFUSED_BY, FlakyTickets, RefusingTickets
from tests.projections.unit.helpers import Log, read_model


class NoLog:
    """The feeds here are handed their batches; they never read a log."""

    @property
    def recorder(self) -> ApplicationRecorder:
        raise AssertionError("no log in these tests")

    @property
    def mapper(self) -> LogMapper:
        raise AssertionError("no log in these tests")


class Batches(LogReader):
    """Changes made in memory, handed out in batches as the log reader would."""

    def __init__(self, changes: Sequence[LoggedChange]) -> None:
        self._changes = changes

    def batch_after(self, position: int, limit: int) -> DecodedBatch | None:
        after = [change for change in self._changes if change.position > position][:limit]
        if not after:
            return None
        return DecodedBatch(position, after[-1].position, tuple(after), len(after))


def feed_of(projection: TicketsProjection, changes: Sequence[LoggedChange]) -> ProjectionFeed:
    return ProjectionFeed(projection, NoLog(), reader=Batches(changes))


def test_one_bad_event_in_a_batch_of_ten_is_parked_and_the_nine_others_applied(
    tmp_path: Path, log: Log, caplog: pytest.LogCaptureFixture
) -> None:
    changes = [
        log.change(ticket, 0, quantity=ticket, **({REFUSED_BY: ["tickets"]} if ticket == 4 else {}))
        for ticket in range(1, 11)
    ]
    with read_model(RefusingTickets, tmp_path, log) as tickets:
        feed = feed_of(tickets, changes)
        with caplog.at_level(logging.ERROR, logger="projections.runtime.feed"):
            assert feed.step() == 10

        assert (feed.position, feed.parked) == (10, 1)
        assert tickets.view.tracked_position() == 10
        assert parked_count(tickets.view) == 1
        assert parked_for(tickets.view, 4) == {
            "projection": "tickets",
            "position": 4,
            "error": "ValueError: tickets refuses the event at position 4",
        }
        assert ticket_queries.current_state(tickets.view, 4) is None
        for ticket in (*range(1, 4), *range(5, 11)):
            state = ticket_queries.current_state(tickets.view, ticket)
            assert state is not None
            assert state["snapshot"]["quantity"] == ticket
            assert parked_for(tickets.view, ticket) is None
        assert feed.step() == 0
    (line,) = caplog.messages
    assert line == (
        "projection tickets parked the event at position 4 (ticket 4): "
        "ValueError: tickets refuses the event at position 4"
    )


def test_the_ticket_of_a_parked_event_goes_on_with_its_later_events(
    tmp_path: Path, log: Log
) -> None:
    changes = [
        log.change(7, 0, quantity=1),
        log.change(7, 1, quantity=2, **{REFUSED_BY: ["tickets"]}),
        log.change(7, 2, quantity=3),
        log.change(7, 3, quantity=4, **{REFUSED_BY: ["tickets"]}),
    ]
    with read_model(RefusingTickets, tmp_path, log) as tickets:
        feed = feed_of(tickets, changes)
        feed.step()

        state = ticket_queries.current_state(tickets.view, 7)
        assert state is not None
        assert (state["version"], state["snapshot"]["quantity"]) == (3, 3)
        assert ticket_queries.state_at_version(tickets.view, tickets.past, 7, 2) is None
        # The earliest of its parked events is the one a stale answer names.
        stale = parked_for(tickets.view, 7)
        assert stale is not None
        assert stale["position"] == 2
        assert feed.parked == parked_count(tickets.view) == 2


def test_a_storage_failure_is_not_parked_and_the_batch_applies_once_it_passes(
    tmp_path: Path, log: Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(FlakyTickets, "failed_at", set())
    changes = [
        log.change(ticket, 0, **({FAILS_ONCE_IN: ["tickets"]} if ticket == 3 else {}))
        for ticket in range(1, 6)
    ]
    with read_model(FlakyTickets, tmp_path, log) as tickets:
        feed = feed_of(tickets, changes)
        with pytest.raises(OperationalError, match="database is locked"):
            feed.step()
        # Nothing of the failed batch holds, and nothing was parked.
        assert (feed.position, tickets.view.tracked_position(), feed.parked) == (0, 0, 0)
        assert ticket_queries.current_state(tickets.view, 1) is None

        assert feed.step() == 5
        assert (feed.position, parked_count(tickets.view)) == (5, 0)
        assert ticket_queries.current_state(tickets.view, 3) is not None


def test_a_position_another_process_tracked_first_is_left_to_the_applier(
    tmp_path: Path, log: Log
) -> None:
    changes = [log.change(ticket, 0) for ticket in range(1, 4)]
    location = DatabaseLocation.parse(f"sqlite:///{tmp_path / 'log.sqlite3'}")
    with read_model(TicketsProjection, tmp_path, log) as leader:
        feed_of(leader, changes).step()
        # A second process that still stands at position 0 on the same generation.
        behind = TicketsProjection(SQLiteProjectionStore(location, "tickets", 1))
        try:
            feed = feed_of(behind, changes)
            feed.position = 0
            with pytest.raises(IntegrityError):
                feed.step()
            assert parked_count(behind.view) == 0
        finally:
            behind.view.close()


class Counting(RefusingTickets):
    """Counts the changes of each transaction it applies in."""

    name = RefusingTickets.name
    batches: ClassVar[list[int]] = []

    def process_batch(self, changes: Sequence[LoggedChange], last_position: int) -> None:
        self.batches.append(len(changes))
        super().process_batch(changes, last_position)


def test_a_batch_is_applied_whole_and_only_a_failed_one_event_by_event(
    tmp_path: Path, log: Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Counting, "batches", [])
    good = [log.change(ticket, 0) for ticket in range(1, 11)]
    bad = [
        log.change(ticket, 1, **({REFUSED_BY: ["tickets"]} if ticket == 2 else {}))
        for ticket in range(1, 4)
    ]
    with read_model(Counting, tmp_path, log) as tickets:
        feed = feed_of(tickets, [*good, *bad])
        feed.apply(DecodedBatch(0, 10, good, 10))
        assert Counting.batches == [10]
        feed.apply(DecodedBatch(10, 14, bad, 4))  # position 14: an event no read model uses
        assert Counting.batches == [10, 3, 1, 1, 1, 0]
        assert (feed.position, tickets.view.tracked_position(), feed.parked) == (14, 14, 1)
