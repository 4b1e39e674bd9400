"""The tickets read model's `apply`, read back through `ticket_queries`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from projections.read_model import epoch_micros
from projections.tickets import queries as ticket_queries
from projections.tickets.projection import TicketsProjection
from tests.projections.unit.helpers import Apply, Log, at, iso, read_model, received

GROUP = 346868


@pytest.fixture
def tickets(tmp_path: Path, log: Log) -> Iterator[TicketsProjection]:
    with read_model(TicketsProjection, tmp_path, log) as projection:
        yield projection


def current(tickets: TicketsProjection, ticket_id: int) -> dict[str, Any] | None:
    return ticket_queries.current_state(tickets.view, ticket_id)


def as_of(
    tickets: TicketsProjection, ticket_id: int, minute: int | None, known_at: int | None = None
) -> int | None:
    """The version answering `at=minute` (and `knownAt=` the receipt of position `known_at`)."""
    state = ticket_queries.state_as_of(
        tickets.view,
        tickets.past,
        ticket_id,
        None if minute is None else epoch_micros(at(minute)),
        None if known_at is None else epoch_micros(received(known_at)),
    )
    return None if state is None else state["version"]


def children(tickets: TicketsProjection, group: int) -> list[tuple[int, str, Any]] | None:
    found = ticket_queries.children_of(tickets.view, group, after_ticket_id=None, limit=1000)
    if found is None:
        return None
    return [(child["ticketId"], child["knownVia"], child["name"]) for child in found]


def test_a_first_change_creates_the_ticket(
    tickets: TicketsProjection, log: Log, apply: Apply
) -> None:
    apply(tickets, [log.change(7, 20, eventId=3, name="Pista", quantity=10)])

    assert current(tickets, 7) == {
        "ticketId": 7,
        "eventId": 3,
        "version": 1,
        "position": 1,
        "sourceTimestamp": iso(20),
        "receivedAt": received(1).isoformat(),
        "knownVia": "self",
        "snapshot": {"id": 7, "eventId": 3, "name": "Pista", "quantity": 10},
    }
    assert ticket_queries.state_at_version(tickets.view, tickets.past, 7, 1) == current(tickets, 7)
    assert ticket_queries.list_current(
        tickets.view, event_id=None, ticket_type=None, parent=None, after_ticket_id=None, limit=10
    ) == [
        {
            "ticketId": 7,
            "eventId": 3,
            "parent": None,
            "version": 1,
            "sourceTimestamp": iso(20),
            "knownVia": "self",
            "name": "Pista",
            "type": None,
            "quantity": 10,
            "hidden": None,
            "archived": None,
            "salable": None,
            "available": None,
        }
    ]


def test_an_unknown_ticket_has_no_state(tickets: TicketsProjection, log: Log, apply: Apply) -> None:
    apply(tickets, [log.change(7, 20, quantity=1)])

    assert current(tickets, 8) is None
    assert ticket_queries.state_at_version(tickets.view, tickets.past, 7, 2) is None
    assert as_of(tickets, 7, 19) is None
    assert children(tickets, 8) is None


def test_a_later_change_becomes_current_and_every_version_stays(
    tickets: TicketsProjection, log: Log, apply: Apply
) -> None:
    apply(tickets, [log.change(7, 20, quantity=10), log.change(7, 30, quantity=9)])

    now = current(tickets, 7)
    assert now is not None
    assert (now["version"], now["position"], now["snapshot"]) == (2, 2, {"id": 7, "quantity": 9})
    first = ticket_queries.state_at_version(tickets.view, tickets.past, 7, 1)
    assert first is not None
    assert (first["snapshot"], first["knownVia"]) == ({"id": 7, "quantity": 10}, "self")
    assert [as_of(tickets, 7, minute) for minute in (20, 29, 30, 60)] == [1, 1, 2, 2]


def test_a_late_delivery_is_kept_but_never_displaces_a_later_source_time(
    tickets: TicketsProjection, log: Log, apply: Apply
) -> None:
    apply(tickets, [log.change(7, 20, quantity=10), log.change(7, 10, quantity=5)])

    now = current(tickets, 7)
    assert now is not None
    assert (now["version"], now["snapshot"]["quantity"]) == (1, 10)
    assert [as_of(tickets, 7, minute) for minute in (9, 10, 19, 20)] == [None, 2, 2, 1]
    late = ticket_queries.state_at_version(tickets.view, tickets.past, 7, 2)
    assert late is not None
    assert (late["sourceTimestamp"], late["position"]) == (iso(10), 2)


def test_a_source_time_tie_goes_to_the_later_position(
    tickets: TicketsProjection, log: Log, apply: Apply
) -> None:
    apply(tickets, [log.change(7, 20, quantity=1), log.change(7, 20, quantity=2)])

    now = current(tickets, 7)
    assert now is not None
    assert (now["version"], now["position"]) == (2, 2)
    assert as_of(tickets, 7, 20) == 2


def test_known_at_hides_what_was_received_later(
    tickets: TicketsProjection, log: Log, apply: Apply
) -> None:
    apply(
        tickets,
        [
            log.change(7, 10, quantity=1),
            log.change(7, 30, quantity=3),
            log.change(7, 20, quantity=2),
        ],
    )

    assert as_of(tickets, 7, None, known_at=1) == 1
    assert as_of(tickets, 7, None, known_at=2) == 2
    assert as_of(tickets, 7, 25, known_at=2) == 1
    assert as_of(tickets, 7, 25, known_at=3) == 3


def test_a_group_makes_its_children_known_until_they_are_delivered(
    tickets: TicketsProjection, log: Log, apply: Apply
) -> None:
    group = [{"id": 2, "name": "Camarote", "parent": GROUP}, {"id": 1, "name": "Pista"}]
    apply(tickets, [log.change(GROUP, 10, type="Group", children=group)])

    assert children(tickets, GROUP) == [(1, "group", "Pista"), (2, "group", "Camarote")]
    known = current(tickets, 2)
    assert known is not None
    assert (known["version"], known["position"], known["knownVia"]) == (None, 1, "group")
    assert known["snapshot"] == {"id": 2, "name": "Camarote", "parent": GROUP}

    apply(tickets, [log.change(1, 5, name="Pista inteira", parent=GROUP)])

    assert children(tickets, GROUP) == [(1, "self", "Pista inteira"), (2, "group", "Camarote")]
    own = current(tickets, 1)
    assert own is not None
    assert (own["version"], own["knownVia"]) == (1, "self")
    assert children(tickets, 1) == []


def test_a_later_group_never_overrides_a_child_delivered_on_its_own(
    tickets: TicketsProjection, log: Log, apply: Apply
) -> None:
    apply(
        tickets,
        [
            log.change(1, 5, name="Pista", parent=GROUP),
            log.change(GROUP, 10, children=[{"id": 1, "name": "Old"}, {"id": 2, "name": "VIP"}]),
            log.change(GROUP, 20, children=[{"id": 1, "name": "Older"}, {"id": 2, "name": "VIP+"}]),
        ],
    )

    assert children(tickets, GROUP) == [(1, "self", "Pista"), (2, "group", "VIP+")]


def test_children_follow_the_group_snapshot_that_is_current(
    tickets: TicketsProjection, log: Log, apply: Apply
) -> None:
    both = [{"id": 1, "name": "Pista"}, {"id": 2, "name": "Camarote"}]
    apply(
        tickets,
        [
            log.change(GROUP, 10, children=both),
            log.change(GROUP, 5, children=[]),  # late: the group's current stays
            log.change(GROUP, 20, children=both[1:]),
        ],
    )

    assert children(tickets, GROUP) == [(2, "group", "Camarote")]
    dropped = current(tickets, 1)
    assert dropped is not None
    assert (dropped["knownVia"], dropped["version"], dropped["position"]) == ("group", None, 1)


def test_children_sent_as_an_empty_object_are_none(
    tickets: TicketsProjection, log: Log, apply: Apply
) -> None:
    apply(
        tickets, [log.change(GROUP, 10, children=[{"id": 1}]), log.change(GROUP, 20, children={})]
    )

    assert children(tickets, GROUP) == []


def test_children_come_a_page_at_a_time_in_ticket_order(
    tickets: TicketsProjection, log: Log, apply: Apply
) -> None:
    apply(
        tickets,
        [
            log.change(GROUP, 10, children=[{"id": 4}, {"id": 2}]),
            log.change(3, 10, parent=GROUP),
        ],
    )

    def page(after: int | None) -> list[int] | None:
        found = ticket_queries.children_of(tickets.view, GROUP, after_ticket_id=after, limit=2)
        return None if found is None else [child["ticketId"] for child in found]

    assert (page(None), page(3), page(4)) == ([2, 3], [4], [])


@pytest.mark.parametrize("edge", [2**63 - 1, -(2**63)])
def test_a_childs_ids_at_the_64_bit_edge_are_stored(
    tickets: TicketsProjection, log: Log, apply: Apply, edge: int
) -> None:
    apply(
        tickets, [log.change(GROUP, 10, children=[{"id": edge, "eventId": edge, "parent": edge}])]
    )

    listed = ticket_queries.list_current(
        tickets.view, event_id=edge, ticket_type=None, parent=edge, after_ticket_id=None, limit=2
    )
    assert [(c["ticketId"], c["eventId"], c["parent"]) for c in listed] == [(edge, edge, edge)]


def test_the_list_filters_by_event_type_and_parent_in_ticket_order(
    tickets: TicketsProjection, log: Log, apply: Apply
) -> None:
    apply(
        tickets,
        [
            log.change(4, 10, eventId=20, type="Ticket"),
            log.change(1, 10, eventId=10, type="Group"),
            log.change(2, 10, eventId=10, type="Ticket", parent=1),
            log.change(3, 10, eventId=20, type="Ticket", parent=1),
            log.change(4, 5, eventId=30, type="Group"),  # late: not the current state
        ],
    )

    def ids(**filters: Any) -> list[int]:
        wanted: dict[str, Any] = {"event_id": None, "ticket_type": None, "parent": None}
        wanted |= {"after_ticket_id": None, "limit": 10, **filters}
        return [item["ticketId"] for item in ticket_queries.list_current(tickets.view, **wanted)]

    assert ids() == [1, 2, 3, 4]
    assert ids(event_id=20) == [3, 4]
    assert ids(event_id=30) == []
    assert ids(ticket_type="Ticket") == [2, 3, 4]
    assert ids(parent=1, event_id=20) == [3]
    assert ids(after_ticket_id=2, limit=1) == [3]
