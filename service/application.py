"""The write side's application: record deliveries as TicketChanged events, in groups."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, cast
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Transcoding

from service.domain import DeliveryFacts, Ticket, TicketChanged, ticket_uuid
from service.persistence.links import ChainedRecorder, DeliveryLink, RecordedRef

# Another process may append to the same ticket between our read and our write; the
# unique (ticket, version) key then refuses our batch and we judge it again.
MAX_CONFLICT_RETRIES = 5


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


class BytesAsBase64(Transcoding):
    """Keeps each delivery's raw body byte for byte inside its event."""

    type = bytes
    name = "bytes_b64"

    def encode(self, obj: bytes) -> str:
        return base64.b64encode(obj).decode("ascii")

    def decode(self, data: str) -> bytes:
        return base64.b64decode(data)


class TicketAudit(Application[UUID]):
    name = "TicketAudit"
    env = {  # noqa: RUF012 (the library reads this class attribute)
        "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor",
        "AGGREGATE_CACHE_MAXSIZE": "100000",
        # Each batch checks the cached tickets against the chain's heads in one query
        # (`_load_tickets`) instead of one fast-forward query per ticket.
        "AGGREGATE_CACHE_FASTFORWARD": "n",
    }

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(BytesAsBase64())

    @property
    def chained_recorder(self) -> ChainedRecorder:
        return cast(ChainedRecorder, self.recorder)

    def record_deliveries(self, deliveries: Sequence[DeliveryFacts]) -> list[Outcome]:
        """Judge and record a group of deliveries in one transaction, in arrival order."""
        for attempt in range(MAX_CONFLICT_RETRIES):
            try:
                return self._record_once(deliveries)
            except IntegrityError:
                if attempt == MAX_CONFLICT_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def _record_once(self, deliveries: Sequence[DeliveryFacts]) -> list[Outcome]:
        already_recorded = self.chained_recorder.find_deliveries(
            [d.delivery_id for d in deliveries]
        )
        tickets = self._load_tickets({d.ticket_id for d in deliveries})
        judged: list[_Judgement] = []
        new_in_batch: dict[str, tuple[int, int]] = {}
        for delivery in deliveries:
            earlier = already_recorded.get(delivery.delivery_id)
            if earlier is not None:
                judged.append(_Judgement("duplicate", earlier.ticket_id, earlier.version, earlier))
                continue
            if delivery.delivery_id in new_in_batch:
                ticket_id, version = new_in_batch[delivery.delivery_id]
                judged.append(_Judgement("duplicate", ticket_id, version))
                continue
            ticket = tickets[delivery.ticket_id]
            if ticket is None:
                ticket = Ticket.first_delivery(delivery)
                tickets[delivery.ticket_id] = ticket
            elif ticket.is_duplicate(delivery.data_hash):
                judged.append(_Judgement("duplicate", ticket.ticket_id, ticket.version))
                continue
            else:
                ticket.change(delivery)
            new_in_batch[delivery.delivery_id] = (delivery.ticket_id, ticket.version)
            judged.append(
                _Judgement("recorded", delivery.ticket_id, ticket.version, None, delivery)
            )
        return self._save_and_answer([t for t in tickets.values() if t is not None], judged)

    def _save_and_answer(self, tickets: list[Ticket], judged: list[_Judgement]) -> list[Outcome]:
        links = {
            (ticket_uuid(j.ticket_id), j.version): DeliveryLink(j.ticket_id, j.delivery.delivery_id)
            for j in judged
            if j.delivery is not None
        }
        positions: dict[tuple[int, int], int] = {}
        if links:
            for recording in self.save(*tickets, links=links):
                event = cast(TicketChanged, recording.domain_event)
                positions[(event.ticket_id, event.originator_version)] = recording.notification.id
        unresolved = [
            (j.ticket_id, j.version)
            for j in judged
            if j.known is None and (j.ticket_id, j.version) not in positions
        ]
        positions.update(self.chained_recorder.find_positions(unresolved))
        return [j.outcome(positions) for j in judged]

    def _load_tickets(self, ticket_ids: set[int]) -> dict[int, Ticket | None]:
        """The tickets as the log has them now: cached copies when still at the log's head.

        Another process may have appended since a ticket was cached; the heads query finds
        out for the whole batch at once, and only stale or uncached tickets are replayed.
        """
        heads = self.chained_recorder.head_versions(sorted(ticket_ids))
        cache = self.repository.cache
        tickets: dict[int, Ticket | None] = {}
        for ticket_id in ticket_ids:
            head = heads.get(ticket_id)
            if head is None:
                tickets[ticket_id] = None
                continue
            aggregate_id = ticket_uuid(ticket_id)
            ticket = cast(Ticket, self.repository.get(aggregate_id))
            if ticket.version != head:
                if cache is not None:
                    with contextlib.suppress(KeyError):
                        cache.get(aggregate_id, evict=True)
                ticket = cast(Ticket, self.repository.get(aggregate_id))
            tickets[ticket_id] = ticket
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


@dataclass(frozen=True)
class _Judgement:
    status: Literal["recorded", "duplicate"]
    ticket_id: int
    version: int
    known: RecordedRef | None = None
    delivery: DeliveryFacts | None = None

    def outcome(self, positions: dict[tuple[int, int], int]) -> Outcome:
        position = self.known.position if self.known else positions[(self.ticket_id, self.version)]
        return Outcome(
            self.status,
            self.ticket_id,
            self.version,
            position,
            self.delivery.delivery_id if self.delivery else None,
        )
