"""The write-side model: one `Ticket` aggregate per Ingresse ticket, changed by deliveries.

No I/O here. A ticket's stream is nothing but `TicketChanged` events, one per accepted
delivery, the first of which also brings the aggregate into being.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
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
    def first_delivery(cls, delivery: DeliveryFacts, received_at: datetime) -> Ticket:
        event = TicketChanged.of(
            delivery, ticket_uuid(delivery.ticket_id), cls.INITIAL_VERSION, received_at
        )
        ticket = cls.as_left_by(event)
        ticket._pending_events.append(event)
        return ticket

    @classmethod
    def as_left_by(cls, last: TicketChanged) -> Ticket:
        """The ticket as its last event left it: judging the next delivery needs nothing older,
        so a ticket is loaded from that one event rather than its whole stream.

        It is what `last.mutate(None)` makes, without resolving the class from its topic
        and matching the event's attributes to `__init__` parameters on every delivery.
        """
        ticket = cls.__new__(cls)
        ticket.__base_init__(last.originator_id, last.originator_version, last.timestamp)
        last.apply(ticket)
        return ticket

    def change(self, delivery: DeliveryFacts, received_at: datetime) -> None:
        event = TicketChanged.of(delivery, self.id, self.version + 1, received_at)
        event.mutate(self)
        self._pending_events.append(event)

    def is_duplicate(self, data_hash: str) -> bool:
        return self.data_hash == data_hash


TICKET_TOPIC = get_topic(Ticket)


class TicketChanged(Aggregate.Created):
    """One accepted delivery. Its `timestamp` is the received time: when the log's writer
    recorded it, so that received-time order is log order (see `TicketAudit`).

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

    @classmethod
    def of(
        cls, delivery: DeliveryFacts, ticket: UUID, version: int, received_at: datetime
    ) -> TicketChanged:
        """The event recording `delivery` as `version` of the ticket's stream, received at
        `received_at`.

        The same event as the dataclass constructor makes, attributes in its order, without
        its frozen-attribute writes one by one: this runs for every accepted delivery.
        """
        event = object.__new__(cls)
        object.__setattr__(
            event,
            "__dict__",
            {
                "originator_id": ticket,
                "originator_version": version,
                "timestamp": received_at,
                "originator_topic": TICKET_TOPIC,
                "ticket_id": delivery.ticket_id,
                "event_id": delivery.event_id,
                "source_timestamp": delivery.source_timestamp,
                "source_timestamp_text": delivery.source_timestamp_text,
                "data": delivery.data,
                "raw_body": delivery.raw_body,
                "delivery_id": delivery.delivery_id,
                "data_hash": delivery.data_hash,
            },
        )
        return event

    def mutate(self, aggregate: Any) -> Any:
        if aggregate is None:
            return super().mutate(None)
        return CanMutateAggregate.mutate(self, aggregate)

    def apply(self, aggregate: Ticket) -> None:
        aggregate.ticket_id = self.ticket_id
        aggregate.data_hash = self.data_hash


@dataclass(frozen=True, slots=True)
class DeliveryFacts:
    """What the intake learned of a delivery, ready to become a TicketChanged. Its received
    time is not among them: the log's writer stamps that when it records the delivery."""

    ticket_id: int
    event_id: int | None
    source_timestamp: datetime
    source_timestamp_text: str
    data: dict[str, Any]
    raw_body: bytes
    delivery_id: str
    data_hash: str
    content_id: str

    def __reduce__(self) -> tuple[type[DeliveryFacts], tuple[Any, ...]]:
        # An import screens deliveries in another process and sends the facts back: rebuilt
        # by their constructor, they load in about two thirds of the time the default takes.
        return DeliveryFacts, tuple(getattr(self, name) for name in _DELIVERY_FACTS)


_DELIVERY_FACTS = tuple(field.name for field in fields(DeliveryFacts))
