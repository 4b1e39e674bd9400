"""How a TicketChanged is kept in the log: its facts in a small header, then the body as delivered.

Format 3 opens with its format byte and the data hash's 32 bytes, then deflates a JSON array
of the received time, the source time and its text, a newline and the body, primed with the
dictionary `deflate_dictionaries.FORMAT_3`. The body is kept once, byte for byte: `data` and
`delivery_id` are derived from it when reading, and the ticket and eventId are the body's
`data.id` and `data.eventId`, as the intake reads them. The leading format byte lets a later
format be told apart.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Cipher, Compressor, Mapper, StoredEvent, Transcoder
from eventsourcing.utils import get_topic

from service import json_codec
from service.canonical import content_id, delivery_id
from service.domain import TICKET_TOPIC, TicketChanged
from service.persistence.deflate_dictionaries import FORMAT_3

HEADER_END = b"\n"
TICKET_CHANGED_TOPIC = get_topic(TicketChanged)


_FORMAT_3_BYTE = b"\x03"
_DATA_HASH_END = 1 + 32
# zlib's default level: level 9 makes no smaller state of a delivery, level 1 a larger one.
_LEVEL = 6
# A raw deflate stream: the format byte says what it is, and the chain's hash covers it.
_RAW_DEFLATE = -15


class TicketMapper(Mapper[UUID]):
    """Writes and reads TicketChanged events in format 3; other events as the library does."""

    def __init__(
        self,
        transcoder: Transcoder,
        compressor: Compressor | None = None,
        cipher: Cipher | None = None,
    ) -> None:
        if cipher is not None:
            raise ValueError("the log is not encrypted: format 3 has no place for a cipher")
        super().__init__(transcoder, compressor)

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        if type(domain_event) is not TicketChanged:
            return super().to_stored_event(domain_event)
        event = domain_event
        if event.data.get("id") != event.ticket_id or event.data.get("eventId") != event.event_id:
            raise ValueError("format 3 reads a ticket and its eventId from the body's data")
        header = orjson.dumps(
            [
                event.timestamp.isoformat(),
                event.source_timestamp.isoformat(),
                event.source_timestamp_text,
            ]
        )
        deflater = zlib.compressobj(_LEVEL, zlib.DEFLATED, _RAW_DEFLATE, zdict=FORMAT_3)
        deflated = deflater.compress(header + HEADER_END + event.raw_body) + deflater.flush()
        return StoredEvent(
            originator_id=event.originator_id,
            originator_version=event.originator_version,
            topic=TICKET_CHANGED_TOPIC,
            state=_FORMAT_3_BYTE + bytes.fromhex(event.data_hash) + deflated,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        if stored_event.topic != TICKET_CHANGED_TOPIC:
            return super().to_domain_event(stored_event)
        state = stored_event.state
        (received, source, source_text), raw_body = _opened_3(state)
        data = _decoded(raw_body)["data"]
        originator_id = stored_event.originator_id
        attributes: dict[str, Any] = {
            "originator_id": originator_id
            if isinstance(originator_id, UUID)
            else UUID(originator_id),
            "originator_version": stored_event.originator_version,
            "timestamp": datetime.fromisoformat(received),
            "originator_topic": TICKET_TOPIC,
            "ticket_id": data["id"],
            "event_id": data.get("eventId"),
            "source_timestamp": datetime.fromisoformat(source),
            "source_timestamp_text": source_text,
            "data": data,
            "raw_body": raw_body,
            "delivery_id": delivery_id(raw_body),
            "data_hash": state[1:_DATA_HASH_END].hex(),
        }
        # Set at once, as `TicketChanged.of` does: the dataclass constructor is dearer.
        event = object.__new__(TicketChanged)
        object.__setattr__(event, "__dict__", attributes)
        return event

    def ticket_change_parts(self, stored_event: StoredEvent) -> tuple[str, str, dict[str, Any]]:
        """What read models use of a stored TicketChanged: its received and source times as
        ISO text, and its data; without building the event, whose delivery id, times and
        ids they do not need."""
        (received, source, _), raw_body = _opened_3(stored_event.state)
        return received, source, _decoded(raw_body)["data"]


@dataclass(frozen=True)
class RecordedDelivery:
    """What judging a new delivery needs of a recorded one: its ids and its ticket."""

    delivery_id: str
    content_id: str
    ticket_id: int


def recorded_delivery(state: bytes) -> RecordedDelivery:
    """The delivery a stored TicketChanged's state records."""
    (_, _, source_text), raw_body = _opened_3(state)
    return RecordedDelivery(
        delivery_id(raw_body),
        content_id(source_text, state[1:_DATA_HASH_END].hex()),
        _decoded(raw_body)["data"]["id"],
    )


def _opened_3(state: bytes) -> tuple[tuple[str, str, str], bytes]:
    """A format 3 state's header (received time, source time, source time as delivered) and
    the body as delivered."""
    header, _, raw_body = _inflated_3(state).partition(HEADER_END)
    received, source, source_text = orjson.loads(header)
    return (received, source, source_text), raw_body


def _inflated_3(state: bytes) -> bytes:
    if not state.startswith(_FORMAT_3_BYTE):
        raise ValueError("a TicketChanged's state is not in format 3")
    inflater = zlib.decompressobj(_RAW_DEFLATE, zdict=FORMAT_3)
    plaintext = inflater.decompress(state[_DATA_HASH_END:])
    if not inflater.eof or inflater.unused_data:
        raise ValueError("a format 3 event's state is cut short or runs on past its end")
    return plaintext


def _decoded(raw_body: bytes) -> dict[str, Any]:
    """The body as the intake parsed it (it was valid then): integers of any size kept."""
    document: dict[str, Any] = json_codec.loads(raw_body)
    return document
