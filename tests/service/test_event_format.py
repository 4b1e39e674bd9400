"""How deliveries are kept in the log: the body once, byte for byte, and older logs still read.

Format 1 is what the service wrote before `TicketMapper` (the library's JSON mapper: the body
in base64 beside its parsed `data`); those logs must keep working unchanged.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from uuid import UUID

import pytest
from eventsourcing.persistence import Mapper
from pytest_aiohttp import AiohttpClient

from service.application import Outcome, TicketAudit
from service.canonical import data_hash, delivery_id
from service.chain import verify
from service.domain import DeliveryFacts
from service.payload import parse_delivery, parse_source_timestamp
from service.persistence.links import chain_rows
from service.settings import DatabaseLocation
from service.storage import eventsourcing_env, prepare_storage
from tests.helpers import Serve, app_clients, delivery, get_json, make_settings, raw_log

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


def facts(body: bytes) -> DeliveryFacts:
    """What the intake makes of a valid body."""
    envelope = parse_delivery(body)
    return DeliveryFacts(
        ticket_id=envelope.ticket_id,
        event_id=envelope.event_id,
        source_timestamp=parse_source_timestamp(envelope.timestamp, UTC),
        source_timestamp_text=envelope.timestamp,
        received_at=datetime.now(UTC),
        data=envelope.data,
        raw_body=body,
        delivery_id=delivery_id(body),
        data_hash=data_hash(envelope.data),
    )


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
        plaintext = zlib.decompress(raw.state(outcome.position))
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
        assert zlib.decompress(raw.state(3)).startswith(b"[")


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
