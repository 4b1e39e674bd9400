"""The write-side model: one `Ticket` aggregate per Ingresse ticket, changed by deliveries.

No I/O here. A ticket's stream is nothing but `TicketChanged` events, one per accepted
delivery, the first of which also brings the aggregate into being.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, CanMutateAggregate
from eventsourcing.utils import get_topic

_TICKET_NAMESPACE = uuid5(NAMESPACE_URL, "https://ingresse.com/tickets")


@lru_cache(maxsize=1 << 17)
def ticket_uuid(ticket_id: int) -> UUID:
    """The aggregate id of an Ingresse ticket: deterministic, so any process finds the stream."""
    return uuid5(_TICKET_NAMESPACE, str(ticket_id))


class Ticket(Aggregate):
    """What the log must remember of a ticket to judge the next delivery: its last data hash."""

    ticket_id: int
    data_hash: str

    def __init__(self) -> None:
        # State is set by TicketChanged.apply so that the first and later events share one path.
        pass

    @classmethod
    def first_delivery(cls, delivery: DeliveryFacts) -> Ticket:
        return cls._create(
            TicketChanged, id=ticket_uuid(delivery.ticket_id), **delivery.event_fields()
        )

    @classmethod
    def as_left_by(cls, last: TicketChanged) -> Ticket:
        """The ticket as its last event left it: judging the next delivery needs nothing older,
        so a ticket is loaded from that one event rather than its whole stream."""
        ticket = last.mutate(None)
        assert isinstance(ticket, Ticket)
        return ticket

    def change(self, delivery: DeliveryFacts) -> None:
        self.trigger_event(
            TicketChanged, originator_topic=get_topic(Ticket), **delivery.event_fields()
        )

    def is_duplicate(self, data_hash: str) -> bool:
        return self.data_hash == data_hash


class TicketChanged(Aggregate.Created):
    """One accepted delivery. Its `timestamp` is the received time.

    It derives from `Created` so that a ticket's first delivery can open the stream, and
    mutates like any other event afterwards.
    """

    class_version = 1

    ticket_id: int
    event_id: int | None
    source_timestamp: datetime
    source_timestamp_text: str
    data: dict[str, Any]
    raw_body: bytes
    delivery_id: str
    data_hash: str

    def mutate(self, aggregate: Any) -> Any:
        if aggregate is None:
            return super().mutate(None)
        return CanMutateAggregate.mutate(self, aggregate)

    def apply(self, aggregate: Ticket) -> None:
        aggregate.ticket_id = self.ticket_id
        aggregate.data_hash = self.data_hash


@dataclass(frozen=True, slots=True)
class DeliveryFacts:
    """What the intake learned of a delivery, ready to become a TicketChanged."""

    ticket_id: int
    event_id: int | None
    source_timestamp: datetime
    source_timestamp_text: str
    received_at: datetime
    data: dict[str, Any]
    raw_body: bytes
    delivery_id: str
    data_hash: str

    def event_fields(self) -> dict[str, Any]:
        return {
            "timestamp": self.received_at,
            "ticket_id": self.ticket_id,
            "event_id": self.event_id,
            "source_timestamp": self.source_timestamp,
            "source_timestamp_text": self.source_timestamp_text,
            "data": self.data,
            "raw_body": self.raw_body,
            "delivery_id": self.delivery_id,
            "data_hash": self.data_hash,
        }
