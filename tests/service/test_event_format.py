"""How deliveries are kept in the log: the body once, byte for byte, and older logs still read.

Format 1 is what the service wrote before `TicketMapper` (the library's JSON mapper: the body
in base64 beside its parsed `data`), format 2 the body once in a zlib stream; logs of either,
and chain tables in the hex layout, must keep working unchanged.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import cast
from uuid import UUID

import orjson
import pytest
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, StoredEvent
from pytest_aiohttp import AiohttpClient

from service.application import Outcome, TicketAudit
from service.canonical import data_hash, delivery_id
from service.chain import verify
from service.database import prepare_storage
from service.domain import DeliveryFacts, TicketChanged
from service.intake import delivery_facts
from service.payload import parse_delivery
from service.persistence.deflate_dictionaries import FORMAT_3
from service.persistence.event_codec import TICKET_CHANGED_TOPIC, TicketMapper
from service.persistence.links import chain_rows
from service.settings import DatabaseLocation
from service.storage import eventsourcing_env
from tests.helpers import (
    FIXTURES,
    Serve,
    app_clients,
    compact,
    delivery,
    get_json,
    make_settings,
    raw_log,
)

# Whitespace, a non-ASCII name and an integer beyond 64 bits: all must come back as sent.
EXACT_BODY = (
    b'{"webhook": "ticket", "timestamp": "2024-05-17T14:30:12",\n "data": {"id": 7, '
    b'"name": "Ingresso \xc3\xa9", "quantity": 1.0, "big": 123456789012345678901234567890}}'
)


LATER = "2024-05-17T15:00:00"


class FormatOneAudit(TicketAudit):
    """The log as the service wrote it before format 2: the library's own mapper."""

    # The library names the PostgreSQL events table after the application.
    name = TicketAudit.name

    def construct_mapper(self) -> Mapper[UUID]:
        return self.factory.mapper(transcoder=self.construct_transcoder())


class FormatTwoMapper(TicketMapper):
    """How the service wrote a TicketChanged before format 3."""

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        event = cast(TicketChanged, domain_event)
        header = orjson.dumps(
            [
                2,
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
            state=zlib.compress(header + b"\n" + event.raw_body),
        )


class FormatTwoAudit(TicketAudit):
    name = TicketAudit.name

    def construct_mapper(self) -> Mapper[UUID]:
        return self.factory.mapper(
            transcoder=self.construct_transcoder(), mapper_class=FormatTwoMapper
        )


def inflated(state: bytes) -> bytes:
    """A format 3 state's plaintext: after its format byte and data hash, deflated with the
    format's dictionary."""
    assert state[0] == 3
    return zlib.decompressobj(-15, zdict=FORMAT_3).decompress(state[33:])


def facts(body: bytes) -> DeliveryFacts:
    """What the intake makes of a valid body."""
    return delivery_facts(parse_delivery(body), body, datetime.now(UTC), UTC)


def opened(database_url: str, kind: type[TicketAudit] = TicketAudit) -> TicketAudit:
    location = DatabaseLocation.parse(database_url)
    prepare_storage(location)
    return kind(env=eventsourcing_env(location))


@pytest.fixture
def log(database_url: str) -> Iterator[TicketAudit]:
    audit = opened(database_url)
    yield audit
    audit.close()


@pytest.fixture
async def serve(database_url: str, aiohttp_client: AiohttpClient) -> AsyncIterator[Serve]:
    async with app_clients(aiohttp_client) as start:
        yield start


def statuses(outcomes: list[Outcome]) -> list[tuple[str, int, int, int]]:
    return [(o.status, o.ticket_id, o.version, o.position) for o in outcomes]


def test_the_body_is_stored_once_and_read_back_exactly(log: TicketAudit, database_url: str) -> None:
    (outcome,) = log.record_deliveries([facts(EXACT_BODY)])

    with raw_log(database_url) as raw:
        state = raw.state(outcome.position)
    plaintext = inflated(state)
    assert state[1:33].hex() == data_hash(json.loads(EXACT_BODY)["data"])
    assert plaintext.endswith(EXACT_BODY)
    assert plaintext.count(EXACT_BODY) == 1
    assert b'"quantity"' not in plaintext.removesuffix(EXACT_BODY)

    event = log.delivery(delivery_id(EXACT_BODY))
    assert event is not None
    assert event.raw_body == EXACT_BODY
    assert event.data == json.loads(EXACT_BODY)["data"]
    assert event.data["big"] == 123456789012345678901234567890
    assert event.delivery_id == delivery_id(EXACT_BODY)
    assert (event.ticket_id, event.originator_version) == (7, 1)


def test_a_log_of_format_one_events_reads_and_judges_as_before(database_url: str) -> None:
    first, second = delivery(1, quantity=1), delivery(2, quantity=1)
    old = opened(database_url, FormatOneAudit)
    try:
        recorded = old.record_deliveries([facts(first), facts(second)])
    finally:
        old.close()
    assert statuses(recorded) == [("recorded", 1, 1, 1), ("recorded", 2, 1, 2)]

    log = opened(database_url)
    try:
        again = log.record_deliveries(
            [
                facts(first),
                facts(json.dumps(json.loads(second), indent=1).encode()),
                facts(delivery(1, quantity=2)),
            ]
        )
        event = log.delivery(delivery_id(first))
        report = verify(chain_rows(log.chained_recorder))
    finally:
        log.close()

    assert statuses(again) == [
        ("duplicate", 1, 1, 1),
        ("duplicate", 2, 1, 2),
        ("recorded", 1, 2, 3),
    ]
    assert event is not None
    assert (event.raw_body, event.data) == (first, {"id": 1, "quantity": 1})
    assert (report.ok, report.checked) == (True, 3)
    with raw_log(database_url) as raw:
        assert zlib.decompress(raw.state(1)).startswith(b"{")
        assert raw.state(3)[0] == 3


async def test_projections_read_both_formats(serve: Serve, database_url: str) -> None:
    old = opened(database_url, FormatOneAudit)
    try:
        old.record_deliveries([facts(delivery(5, quantity=3, eventId=9))])
    finally:
        old.close()
    client = await serve(make_settings(database_url))
    response = await client.post("/webhooks/ingresse", data=delivery(6, quantity=4, eventId=9))
    assert response.status == 201

    for ticket_id, quantity in ((5, 3), (6, 4)):
        ticket = await get_json(client, f"/v1/tickets/{ticket_id}?minPosition=2")
        assert ticket["snapshot"] == {"id": ticket_id, "quantity": quantity, "eventId": 9}


def test_another_process_judges_from_each_ticket_s_last_event(database_url: str) -> None:
    one, two = opened(database_url), opened(database_url)
    try:
        assert statuses(one.record_deliveries([facts(delivery(3, quantity=1))])) == [
            ("recorded", 3, 1, 1)
        ]
        assert statuses(one.record_deliveries([facts(delivery(3, quantity=2))])) == [
            ("recorded", 3, 2, 2)
        ]
        # `two` has never seen ticket 3: its last version's data in other bytes is a
        # duplicate of that version, and the first version's data (sent again later) is
        # a change again.
        reordered = json.dumps({"data": {"quantity": 2, "id": 3}, "webhook": "ticket"})
        body = reordered[:-1] + ', "timestamp": "2024-05-17T14:30:12"}'
        assert statuses(
            two.record_deliveries(
                [facts(body.encode()), facts(delivery(3, quantity=1, timestamp=LATER))]
            )
        ) == [("duplicate", 3, 2, 2), ("recorded", 3, 3, 3)]
        # `one` still holds ticket 3 at version 2, which the log has moved past.
        assert statuses(one.record_deliveries([facts(delivery(3, quantity=4))])) == [
            ("recorded", 3, 4, 4)
        ]
    finally:
        one.close()
        two.close()


# Stored format 3 events need these exact bytes to be read: a new dictionary is a new format.
FORMAT_3_DICTIONARY_SHA256 = "67d240fe67585d05e4f4d5e53d22f8af5dfb65c361cac149d52d9958e6288200"


def test_the_format_3_dictionary_never_changes() -> None:
    assert hashlib.sha256(FORMAT_3).hexdigest() == FORMAT_3_DICTIONARY_SHA256


def test_an_ingresse_body_is_stored_in_a_fraction_of_its_size(
    log: TicketAudit, database_url: str
) -> None:
    bodies = []
    for name in ("ticket-408218", "group-346868"):
        document = json.loads((FIXTURES / f"{name}.json").read_text())
        bodies.append(json.dumps(document).encode())
        # Another ticket, so that it is not a duplicate of the spaced one.
        document["data"]["id"] += 1
        bodies.append(json.dumps(document, separators=(",", ":")).encode())
    outcomes = log.record_deliveries([facts(body) for body in bodies])

    with raw_log(database_url) as raw:
        states = [raw.state(outcome.position) for outcome in outcomes]
    for body, state in zip(bodies, states, strict=True):
        # Without the dictionary, zlib keeps more than half of such a body.
        assert len(state) < len(body) / 3, (len(state), len(body))
        event = log.delivery(delivery_id(body))
        assert event is not None
        assert event.raw_body == body


def test_a_log_of_format_two_events_reads_and_judges_as_before(database_url: str) -> None:
    first, second = delivery(1, quantity=1, eventId=4), delivery(2, quantity=1)
    old = opened(database_url, FormatTwoAudit)
    try:
        old.record_deliveries([facts(first), facts(second)])
    finally:
        old.close()

    log = opened(database_url)
    try:
        again = log.record_deliveries(
            [facts(first), facts(compact(second)), facts(delivery(2, quantity=2))]
        )
        event = log.delivery(delivery_id(first))
        report = verify(chain_rows(log.chained_recorder))
    finally:
        log.close()

    assert statuses(again) == [
        ("duplicate", 1, 1, 1),
        ("duplicate", 2, 1, 2),
        ("recorded", 2, 2, 3),
    ]
    assert event is not None
    assert (event.raw_body, event.event_id, event.data) == (
        first,
        4,
        {"id": 1, "quantity": 1, "eventId": 4},
    )
    assert (report.ok, report.checked) == (True, 3)
    with raw_log(database_url) as raw:
        assert zlib.decompress(raw.state(2)).startswith(b"[2,")
        assert raw.state(3)[0] == 3


def hex_layout_statements(database_url: str) -> list[str]:
    """The chain table as the service made it before the compact layout."""
    integer = "INTEGER" if database_url.startswith("sqlite") else "bigint"
    return [
        f"CREATE TABLE event_chain (position {integer} PRIMARY KEY, ticket_id {integer}, "
        f"version {integer} NOT NULL, delivery_id TEXT UNIQUE, hash TEXT NOT NULL)",
        "CREATE UNIQUE INDEX event_chain_ticket_version ON event_chain (ticket_id, version) "
        "WHERE ticket_id IS NOT NULL",
    ]


def test_a_chain_table_in_the_hex_layout_keeps_it_and_keeps_working(database_url: str) -> None:
    prepare_storage(DatabaseLocation.parse(database_url))
    with raw_log(database_url) as raw:
        for statement in hex_layout_statements(database_url):
            raw.execute(statement)
    first, second = delivery(1, quantity=1), delivery(2, quantity=1)
    old = opened(database_url, FormatTwoAudit)
    try:
        old.record_deliveries([facts(first), facts(second)])
    finally:
        old.close()

    log = opened(database_url)
    try:
        again = log.record_deliveries(
            [facts(first), facts(delivery(1, quantity=2)), facts(compact(second))]
        )
        event = log.delivery(delivery_id(first))
        report = verify(chain_rows(log.chained_recorder))
    finally:
        log.close()

    assert statuses(again) == [
        ("duplicate", 1, 1, 1),
        ("recorded", 1, 2, 3),
        ("duplicate", 2, 1, 2),
    ]
    assert event is not None
    assert event.raw_body == first
    assert (report.ok, report.checked) == (True, 3)
    assert report.head is not None
    with raw_log(database_url) as raw:
        links = raw.execute(
            "SELECT position, ticket_id, version, delivery_id, hash FROM event_chain"
        )
    assert [link[:4] for link in sorted(links)] == [
        (1, 1, 1, delivery_id(first)),
        (2, 2, 1, delivery_id(second)),
        (3, 1, 2, delivery_id(delivery(1, quantity=2))),
    ]
    assert max(links)[4] == report.head.hash


def test_a_compact_chain_keeps_hashes_in_32_bytes(log: TicketAudit, database_url: str) -> None:
    log.record_deliveries([facts(delivery(1, quantity=1)), facts(delivery(2, quantity=1))])
    report = verify(chain_rows(log.chained_recorder))

    with raw_log(database_url) as raw:
        links = sorted(raw.execute("SELECT position, delivery_key, hash FROM event_chain"))
    assert [bytes(link[2]) for link in links] == [
        bytes.fromhex(row.stored_hash or "") for row in chain_rows(log.chained_recorder)
    ]
    assert report.head is not None
    assert bytes(links[-1][2]).hex() == report.head.hash
    # The first 8 bytes of the delivery's sha256, as a signed bigint.
    digest = bytes.fromhex(delivery_id(delivery(1, quantity=1)))
    assert links[0][1] == int.from_bytes(digest[:8], "big", signed=True)


def test_a_delivery_key_shared_by_another_delivery_is_no_duplicate(
    log: TicketAudit, database_url: str
) -> None:
    # Two bodies whose ids open alike (1 in 2^64 by chance) must still be told apart: the
    # key only narrows the search to events whose own body then decides.
    first, second = delivery(1, quantity=1), delivery(1, quantity=2)
    log.record_deliveries([facts(first)])
    with raw_log(database_url) as raw:
        raw.execute(
            "UPDATE event_chain SET delivery_key = ? WHERE position = 1",
            (int.from_bytes(bytes.fromhex(delivery_id(second)[:16]), "big", signed=True),),
        )

    assert log.chained_recorder.find_deliveries([delivery_id(second)]) == {}
    assert statuses(log.record_deliveries([facts(second)])) == [("recorded", 1, 2, 2)]
    assert statuses(log.record_deliveries([facts(second)])) == [("duplicate", 1, 2, 2)]
