"""A batch judged on facts another process changes before it commits is judged again.

Each process keeps its tickets between batches; a batch refused by the log's unique keys must
leave none of its changes behind in that process, or the next attempt would judge against
versions that were never written.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from service.application import Outcome, TicketAudit
from service.persistence.links import KnownFacts
from tests.helpers import delivery
from tests.service.test_event_format import facts, opened, statuses


@pytest.fixture
def two_logs(database_url: str) -> Iterator[tuple[TicketAudit, TicketAudit]]:
    first, second = opened(database_url), opened(database_url)
    yield first, second
    first.close()
    second.close()


def test_a_batch_overtaken_by_another_process_is_judged_again(
    two_logs: tuple[TicketAudit, TicketAudit], monkeypatch: pytest.MonkeyPatch
) -> None:
    mine, other = two_logs
    assert statuses(mine.record_deliveries([facts(delivery(3, quantity=1))])) == [
        ("recorded", 3, 1, 1)
    ]
    recorder = mine.chained_recorder
    read_facts = recorder.known_facts
    overtaken: list[list[Outcome]] = []

    def overtaken_once(content_ids: Sequence[str], ticket_ids: Sequence[int]) -> KnownFacts:
        known = read_facts(content_ids, ticket_ids)
        if not overtaken:
            # Between this process's read and its write, another one appends version 2.
            overtaken.append(other.record_deliveries([facts(delivery(3, quantity=2))]))
        return known

    monkeypatch.setattr(recorder, "known_facts", overtaken_once)
    outcomes = mine.record_deliveries([facts(delivery(3, quantity=5))])
    monkeypatch.undo()

    assert statuses(overtaken[0]) == [("recorded", 3, 2, 2)]
    ((status, ticket_id, version, position),) = statuses(outcomes)
    # PostgreSQL may skip the position the refused attempt drew.
    assert (status, ticket_id, version) == ("recorded", 3, 3)
    assert position > 2
    # Version 3 is what this process holds for the ticket now: its data again is a duplicate.
    again = mine.record_deliveries([facts(delivery(3, quantity=5, timestamp="2024-05-18"))])
    assert statuses(again) == [("duplicate", 3, 3, position)]
