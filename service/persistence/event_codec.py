"""How a TicketChanged is kept in the log: its facts in a small header, then the body as delivered.

Format 1 is what the library's JSON transcoder wrote: every attribute in one JSON object,
the raw body in base64 and its `data` a second time. Format 2 keeps the body once, byte for
byte, and derives `data` and `delivery_id` from it when reading: a zlib stream of a JSON array
opening with the format number, a newline, then the body. Format 3 (written now) opens with
its format byte and the data hash's 32 bytes, then deflates a JSON array of the received
time, the source time and its text, a newline and the body, primed with the dictionary
`deflate_dictionaries.FORMAT_3`; the ticket and eventId are the body's `data.id` and
`data.eventId`, as the intake reads them. Every zlib stream opens with a byte whose low four
bits are 8, so the format byte 3 tells format 3 apart from the two before it.
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

from service import json_codec
from service.canonical import delivery_id
from service.domain import TICKET_TOPIC, TicketChanged
from service.persistence.deflate_dictionaries import FORMAT_3

FORMAT = 3
HEADER_END = b"\n"
TICKET_CHANGED_TOPIC = get_topic(TicketChanged)


_FORMAT_3_BYTE = b"\x03"
_DATA_HASH_END = 1 + 32
# zlib's default level: level 9 makes no smaller state of a delivery, level 1 a larger one.
_LEVEL = 6
# A raw deflate stream: the format byte says what it is, and the chain's hash covers it.
_RAW_DEFLATE = -15


class TicketMapper(Mapper[UUID]):
    """Writes TicketChanged events in format 3; reads formats 1 to 3; other events as the
    library does."""

    def __init__(
        self,
        transcoder: Transcoder,
        compressor: Compressor | None = None,
        cipher: Cipher | None = None,
    ) -> None:
        if cipher is not None:
            raise ValueError("the log is not encrypted: formats 2 and 3 have no place for a cipher")
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
        if state.startswith(_FORMAT_3_BYTE):
            return _format_3_event(stored_event)
        plaintext = zlib.decompress(state)
        if not plaintext.startswith(b"["):
            return super().to_domain_event(stored_event)
        header, _, raw_body = plaintext.partition(HEADER_END)
        _, received, ticket_id, event_id, source, source_text, data_hash = orjson.loads(header)
        return _ticket_changed(
            stored_event,
            ticket_id=ticket_id,
            event_id=event_id,
            received=received,
            source=source,
            source_text=source_text,
            data=_decoded(raw_body)["data"],
            raw_body=raw_body,
            data_hash=data_hash,
        )


def recorded_delivery(state: bytes) -> tuple[str, int]:
    """The delivery id and the ticket of a stored TicketChanged's state, in any format."""
    if state.startswith(_FORMAT_3_BYTE):
        raw_body = _inflated_3(state).partition(HEADER_END)[2]
        return delivery_id(raw_body), _decoded(raw_body)["data"]["id"]
    plaintext = zlib.decompress(state)
    if plaintext.startswith(b"["):
        header, _, raw_body = plaintext.partition(HEADER_END)
        return delivery_id(raw_body), orjson.loads(header)[2]
    # Format 1: the library's transcoding of the event's attributes, strings kept as they are.
    attributes = json.loads(plaintext)
    return attributes["delivery_id"], attributes["ticket_id"]


def _format_3_event(stored_event: StoredEvent) -> TicketChanged:
    state = stored_event.state
    header, _, raw_body = _inflated_3(state).partition(HEADER_END)
    received, source, source_text = orjson.loads(header)
    data = _decoded(raw_body)["data"]
    return _ticket_changed(
        stored_event,
        ticket_id=data["id"],
        event_id=data.get("eventId"),
        received=received,
        source=source,
        source_text=source_text,
        data=data,
        raw_body=raw_body,
        data_hash=state[1:_DATA_HASH_END].hex(),
    )


def _inflated_3(state: bytes) -> bytes:
    inflater = zlib.decompressobj(_RAW_DEFLATE, zdict=FORMAT_3)
    plaintext = inflater.decompress(state[_DATA_HASH_END:])
    if not inflater.eof or inflater.unused_data:
        raise ValueError("a format 3 event's state is cut short or runs on past its end")
    return plaintext


def _ticket_changed(
    stored_event: StoredEvent,
    *,
    ticket_id: int,
    event_id: int | None,
    received: str,
    source: str,
    source_text: str,
    data: dict[str, Any],
    raw_body: bytes,
    data_hash: str,
) -> TicketChanged:
    originator_id = stored_event.originator_id
    state: dict[str, Any] = {
        "originator_id": originator_id if isinstance(originator_id, UUID) else UUID(originator_id),
        "originator_version": stored_event.originator_version,
        "timestamp": datetime.fromisoformat(received),
        "originator_topic": TICKET_TOPIC,
        "ticket_id": ticket_id,
        "event_id": event_id,
        "source_timestamp": datetime.fromisoformat(source),
        "source_timestamp_text": source_text,
        "data": data,
        "raw_body": raw_body,
        "delivery_id": delivery_id(raw_body),
        "data_hash": data_hash,
    }
    event = object.__new__(TicketChanged)
    object.__setattr__(event, "__dict__", state)
    return event


def _decoded(raw_body: bytes) -> dict[str, Any]:
    """The body as the intake parsed it (it was valid then): integers of any size kept."""
    document: dict[str, Any] = json_codec.loads(raw_body)
    return document
