"""The write side's application: record deliveries as TicketChanged events, in groups."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, cast
from uuid import UUID

from eventsourcing.application import Application, LRUCache
from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    OperationalError,
)

from service.domain import DeliveryFacts, Ticket, TicketChanged, ticket_uuid
from service.persistence.event_codec import TicketMapper
from service.persistence.links import ChainedRecorder, DeliveryLink, KnownFacts, RecordedRef

# Another process may append to the same ticket between our read and our write; the
# unique (ticket, version) key then refuses our batch and we judge it again.
MAX_CONFLICT_RETRIES = 5
# Tickets kept at their last version between batches (a few hundred bytes each).
TICKETS_CACHED = 100_000

# Where each (ticket id, version) sits in the log.
Positions = dict[tuple[int, int], int]


@dataclass(frozen=True)
class Outcome:
    status: Literal["recorded", "duplicate"]
    ticket_id: int
    version: int
    position: int
    delivery_id: str | None = None

    def as_json(self) -> dict[str, object]:
        body: dict[str, object] = {
            "status": self.status,
            "ticketId": self.ticket_id,
            "version": self.version,
            "position": self.position,
        }
        if self.delivery_id is not None:
            body["deliveryId"] = self.delivery_id
        return body


class TicketAudit(Application[UUID]):
    name = "TicketAudit"
    # `construct_mapper` makes it; the read side uses what it adds to the library's mapper.
    mapper: TicketMapper

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        super().__init__(env)
        # The tickets at their last version, shared by the batches of this process. Only
        # the thread holding the lock changes them, and a batch that fails to commit drops
        # the ones it changed, so no copy is taken to guard them.
        self._tickets: LRUCache[int, Ticket] = LRUCache(maxsize=TICKETS_CACHED)
        self._recording = threading.Lock()
        self._last_received: datetime | None = None

    def construct_mapper(self) -> TicketMapper:
        return cast(
            TicketMapper,
            self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=TicketMapper),
        )

    @property
    def chained_recorder(self) -> ChainedRecorder:
        return cast(ChainedRecorder, self.recorder)

    def record_deliveries(self, deliveries: Sequence[DeliveryFacts]) -> list[Outcome]:
        """Judge and record a group of deliveries in one transaction, in arrival order."""
        with self._recording:
            reconnected = False
            for attempt in range(MAX_CONFLICT_RETRIES):
                try:
                    return self._record_once(deliveries)
                except IntegrityError:
                    if attempt == MAX_CONFLICT_RETRIES - 1:
                        raise
                except (OperationalError, InterfaceError):
                    # Pooled connections are not pinged before use, so one the database
                    # closed (a restart) fails here first. A second try is safe: nothing was
                    # written, or, if the commit got through after all, the deliveries are
                    # now judged as the duplicates of themselves they are.
                    if reconnected:
                        raise
                    reconnected = True
                    # A database that is down fails this probe at once (a refused
                    # connection), where a retry would wait out the pool's timeout first.
                    self.chained_recorder.probe_write()
                    self.chained_recorder.drop_broken_connections()
        raise AssertionError("unreachable")

    def _record_once(self, deliveries: Sequence[DeliveryFacts]) -> list[Outcome]:
        ticket_ids = sorted({d.ticket_id for d in deliveries})
        recorder = self.chained_recorder
        batch: _Batch | None = None
        try:
            with recorder.batch():
                known = recorder.known_facts([d.content_id for d in deliveries], ticket_ids)
                batch = _Batch(known, self._tickets_at(known.heads), self._received_now())
                judged = [batch.judge(delivery) for delivery in deliveries]
                positions = batch.head_positions()
                positions.update(self._append(list(batch.changed.values()), judged))
        except BaseException:
            # Their versions moved past what the log holds: read them again next time.
            for ticket_id in batch.changed if batch else ():
                with contextlib.suppress(KeyError):
                    self._tickets.get(ticket_id, evict=True)
            raise
        for ticket_id, ticket in batch.changed.items():
            self._tickets.put(ticket_id, ticket)
        return [j.outcome(positions) for j in judged]

    def _received_now(self) -> datetime:
        """The received time of the batch about to be written. It is stamped here, in the one
        writer, rather than when a delivery's headers arrived: a body that trickled in for
        seconds would otherwise be recorded after deliveries it claims to precede, and an
        answer as of a received time would change once it landed. Never before the last
        batch's, nor than the log's last event, so the log's order is received-time order
        even if the clock steps back, between batches or across a restart."""
        last = self._last_received
        if last is None:
            last = self._head_received_at()
        self._last_received = max(datetime.now(UTC), last)
        return self._last_received

    def _head_received_at(self) -> datetime:
        head = self.recorder.max_notification_id()
        for notification in self.recorder.select_notifications(head, 1) if head is not None else ():
            return cast(TicketChanged, self.mapper.to_domain_event(notification)).timestamp
        return datetime.min.replace(tzinfo=UTC)

    def _append(self, changed: list[Ticket], judged: list[_Judgement]) -> Positions:
        """Write the changed tickets' new events; their positions by (ticket, version)."""
        if not changed:
            return {}
        links = {
            (ticket_uuid(j.ticket_id), j.version): DeliveryLink(
                j.delivery.delivery_id, j.delivery.content_id
            )
            for j in judged
            if j.delivery is not None
        }
        events = [
            cast(TicketChanged, event) for ticket in changed for event in ticket.collect_events()
        ]
        # What `self.events.put` does, less the notification objects it would make per event
        # only for their ids to be read back here.
        stored = [self.mapper.to_stored_event(event) for event in events]
        notification_ids = self.recorder.insert_events(stored, links=links) or []
        return {
            (event.ticket_id, event.originator_version): notification_id
            for event, notification_id in zip(events, notification_ids, strict=True)
        }

    def _tickets_at(self, heads: dict[int, RecordedRef]) -> dict[int, Ticket]:
        """The batch's tickets as the log has them now; those it does not have are absent.

        Another process may have appended since a ticket was cached: a cached ticket is used
        only at the head version just read, and every other one is loaded from its last
        event, all in one query.
        """
        tickets: dict[int, Ticket] = {}
        stale: list[tuple[UUID, int]] = []
        for ticket_id, head in heads.items():
            try:
                ticket = self._tickets.get(ticket_id)
            except KeyError:
                ticket = None
            if ticket is not None and ticket.version == head.version:
                tickets[ticket_id] = ticket
            else:
                stale.append((ticket_uuid(ticket_id), head.version))
        for stored in self.chained_recorder.select_head_events(stale):
            ticket = Ticket.as_left_by(cast(TicketChanged, self.mapper.to_domain_event(stored)))
            tickets[ticket.ticket_id] = ticket
        return tickets

    def delivery(self, delivery_id: str) -> TicketChanged | None:
        """The event that recorded a delivery, to give its body back byte for byte."""
        ref = self.chained_recorder.find_deliveries([delivery_id]).get(delivery_id)
        if ref is None:
            return None
        events = self.repository.event_store.get(
            ticket_uuid(ref.ticket_id), gt=ref.version - 1, lte=ref.version
        )
        return cast(TicketChanged, next(iter(events), None))


@dataclass
class _Batch:
    """What judging a batch has learnt so far, delivery after delivery in arrival order."""

    known: KnownFacts
    tickets: dict[int, Ticket]
    received_at: datetime
    changed: dict[int, Ticket] = field(default_factory=dict)
    new_in_batch: dict[str, tuple[int, int]] = field(default_factory=dict)

    def judge(self, delivery: DeliveryFacts) -> _Judgement:
        """A duplicate of what the log or this batch holds, or a new version of its ticket.

        A retry (the same content, whatever its bytes) names the version it was recorded as,
        however old; otherwise data equal to the ticket's last version changes nothing.
        """
        earlier = self.known.recorded.get(delivery.content_id)
        if earlier is not None:
            return _Judgement("duplicate", earlier.ticket_id, earlier.version, earlier)
        if delivery.content_id in self.new_in_batch:
            ticket_id, version = self.new_in_batch[delivery.content_id]
            return _Judgement("duplicate", ticket_id, version)
        ticket = self.tickets.get(delivery.ticket_id)
        if ticket is None:
            ticket = Ticket.first_delivery(delivery, self.received_at)
            self.tickets[delivery.ticket_id] = ticket
        elif ticket.is_duplicate(delivery.data_hash):
            return _Judgement("duplicate", ticket.ticket_id, ticket.version)
        else:
            ticket.change(delivery, self.received_at)
        self.changed[delivery.ticket_id] = ticket
        self.new_in_batch[delivery.content_id] = (delivery.ticket_id, ticket.version)
        return _Judgement("recorded", delivery.ticket_id, ticket.version, None, delivery)

    def head_positions(self) -> Positions:
        """Where the versions the log had before this batch sit: a duplicate of a ticket's
        last version finds its position here without another query."""
        return {(head.ticket_id, head.version): head.position for head in self.known.heads.values()}


@dataclass(frozen=True)
class _Judgement:
    status: Literal["recorded", "duplicate"]
    ticket_id: int
    version: int
    known: RecordedRef | None = None
    delivery: DeliveryFacts | None = None

    def outcome(self, positions: Positions) -> Outcome:
        position = self.known.position if self.known else positions[(self.ticket_id, self.version)]
        return Outcome(
            self.status,
            self.ticket_id,
            self.version,
            position,
            self.delivery.delivery_id if self.delivery else None,
        )
