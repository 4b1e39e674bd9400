"""How a TicketChanged is kept in the log: its facts in a small header, then the body as delivered.

Format 1 is what the library's JSON transcoder wrote: every attribute in one JSON object,
the raw body in base64 and its `data` a second time. Format 2 keeps the body once, byte for
byte, and derives `data` and `delivery_id` from it when reading. Its plaintext is a JSON
array opening with the format number, a newline, then the body; an array never starts a
format 1 plaintext (an object), so both stay readable. Both are zlib streams.
"""

from __future__ import annotations

import json
import zlib
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Cipher, Compressor, Mapper, StoredEvent, Transcoder
from eventsourcing.utils import get_topic

from service.canonical import delivery_id
from service.domain import Ticket, TicketChanged
from service.payload import might_hold_huge_integer

FORMAT = 2
HEADER_END = b"\n"
TICKET_CHANGED_TOPIC = get_topic(TicketChanged)
TICKET_TOPIC = get_topic(Ticket)


class TicketMapper(Mapper[UUID]):
    """Writes TicketChanged events in format 2; reads formats 1 and 2; other events as the
    library does."""

    def __init__(
        self,
        transcoder: Transcoder,
        compressor: Compressor | None = None,
        cipher: Cipher | None = None,
    ) -> None:
        if cipher is not None:
            raise ValueError("the log is not encrypted: format 2 has no place for a cipher")
        super().__init__(transcoder, compressor)

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        if type(domain_event) is not TicketChanged:
            return super().to_stored_event(domain_event)
        event = domain_event
        header = orjson.dumps(
            [
                FORMAT,
                event.timestamp.isoformat(),
                event.ticket_id,
                event.event_id,
                event.source_timestamp.isoformat(),
                event.source_timestamp_text,
                event.data_hash,
            ]
        )
        return StoredEvent(
            originator_id=event.originator_id,
            originator_version=event.originator_version,
            topic=TICKET_CHANGED_TOPIC,
            state=zlib.compress(header + HEADER_END + event.raw_body),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        if stored_event.topic != TICKET_CHANGED_TOPIC:
            return super().to_domain_event(stored_event)
        plaintext = zlib.decompress(stored_event.state)
        if not plaintext.startswith(b"["):
            return super().to_domain_event(stored_event)
        header, _, raw_body = plaintext.partition(HEADER_END)
        _, received, ticket_id, event_id, source, source_text, data_hash = orjson.loads(header)
        originator_id = stored_event.originator_id
        state: dict[str, Any] = {
            "originator_id": originator_id
            if isinstance(originator_id, UUID)
            else UUID(originator_id),
            "originator_version": stored_event.originator_version,
            "timestamp": datetime.fromisoformat(received),
            "originator_topic": TICKET_TOPIC,
            "ticket_id": ticket_id,
            "event_id": event_id,
            "source_timestamp": datetime.fromisoformat(source),
            "source_timestamp_text": source_text,
            "data": _decoded(raw_body)["data"],
            "raw_body": raw_body,
            "delivery_id": delivery_id(raw_body),
            "data_hash": data_hash,
        }
        event = object.__new__(TicketChanged)
        object.__setattr__(event, "__dict__", state)
        return event


def _decoded(raw_body: bytes) -> dict[str, Any]:
    """The body as the intake parsed it (it was valid then): integers of any size kept."""
    if might_hold_huge_integer(raw_body):
        document: dict[str, Any] = json.loads(raw_body)
        return document
    return orjson.loads(raw_body)  # type: ignore[no-any-return]
