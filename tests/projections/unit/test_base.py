"""What every read model shares: a logged TicketChanged as projections see it, and the
library's one-event entry point."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from eventsourcing.persistence import Tracking

from projections.read_model import LoggedChange
from projections.store.views import LOG_APPLICATION_NAME
from projections.tickets import queries as ticket_queries
from projections.tickets.projection import TicketsProjection
from service.domain import DeliveryFacts, Ticket, TicketChanged
from tests.projections.unit.helpers import Log, read_model

RECEIVED = datetime(2024, 5, 17, 18, 0, 0, 250000, tzinfo=UTC)
SOURCE = datetime(2024, 5, 17, 10, 0, tzinfo=UTC)


def ticket_changed(ticket_id: int, quantity: int) -> TicketChanged:
    facts = DeliveryFacts(
        ticket_id=ticket_id,
        event_id=3,
        source_timestamp=SOURCE,
        source_timestamp_text="2024-05-17T10:00:00",
        data={"id": ticket_id, "eventId": 3, "quantity": quantity},
        raw_body=b"{}",
        delivery_id="0" * 64,
        data_hash="0" * 64,
        content_id="0" * 64,
    )
    (event,) = Ticket.first_delivery(facts, RECEIVED).collect_events()
    assert isinstance(event, TicketChanged)
    return event


def test_a_logged_change_carries_what_projections_write() -> None:
    change = LoggedChange.of(ticket_changed(7, 2**70), position=12)

    assert (change.position, change.ticket_id, change.event_id, change.version) == (12, 7, 3, 1)
    assert (change.source_iso, change.received_iso) == (
        "2024-05-17T10:00:00+00:00",
        "2024-05-17T18:00:00.250000+00:00",
    )
    assert change.received_us - change.source_us == 8 * 3600 * 10**6 + 250000
    assert change.snapshot_json == '{"id":7,"eventId":3,"quantity":1180591620717411303424}'


def test_process_event_applies_one_event_and_tracks_its_position(tmp_path: Path) -> None:
    with read_model(TicketsProjection, tmp_path, Log()) as tickets:
        tickets.process_event(ticket_changed(7, 5), Tracking(LOG_APPLICATION_NAME, 4))

        state = ticket_queries.current_state(tickets.view, 7)
        assert state is not None
        assert (state["position"], state["snapshot"]["quantity"]) == (4, 5)
        assert tickets.view.tracked_position() == 4
