"""How deliveries are kept in the log: format 3, the body once, byte for byte, and the
compact chain table beside it."""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone, tzinfo

import pytest
from eventsourcing.persistence import JSONTranscoder

from projections.read_model import LoggedChange
from service import application
from service.application import Outcome, TicketAudit
from service.canonical import data_hash, delivery_id
from service.chain import verify
from service.database import prepare_storage
from service.domain import DeliveryFacts, Ticket, TicketChanged
from service.intake import delivery_facts
from service.payload import parse_delivery
from service.persistence.deflate_dictionaries import FORMAT_3
from service.persistence.event_codec import TicketMapper
from service.persistence.links import chain_rows, delivery_key
from service.settings import DatabaseLocation
from service.storage import eventsourcing_env
from tests.helpers import FIXTURES, delivery, raw_log

# Whitespace, a non-ASCII name and an integer beyond 64 bits: all must come back as sent.
EXACT_BODY = (
    b'{"webhook": "ticket", "timestamp": "2024-05-17T14:30:12",\n "data": {"id": 7, '
    b'"name": "Ingresso \xc3\xa9", "quantity": 1.0, "big": 123456789012345678901234567890}}'
)

FIXTURE_BODIES = [
    (FIXTURES / name).read_bytes() for name in ("ticket-408218.json", "group-346868.json")
]
BRASILIA = timezone(timedelta(hours=-3))

LATER = "2024-05-17T15:00:00"


def inflated(state: bytes) -> bytes:
    """A format 3 state's plaintext: after its format byte and data hash, deflated with the
    format's dictionary."""
    assert state[0] == 3
    return zlib.decompressobj(-15, zdict=FORMAT_3).decompress(state[33:])


def facts(body: bytes) -> DeliveryFacts:
    """What the intake makes of a valid body."""
    return delivery_facts(parse_delivery(body), body, UTC)


def opened(database_url: str) -> TicketAudit:
    location = DatabaseLocation.parse(database_url)
    prepare_storage(location)
    return TicketAudit(env=eventsourcing_env(location))


@pytest.fixture
def log(database_url: str) -> Iterator[TicketAudit]:
    audit = opened(database_url)
    yield audit
    audit.close()


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


def test_a_format_3_state_is_its_byte_the_data_hash_and_the_deflated_header_and_body() -> None:
    body = delivery(408218, quantity=5, eventId=9)
    received = datetime(2024, 5, 17, 14, 30, 12, 123456, tzinfo=UTC)
    event = Ticket.first_delivery(delivery_facts(parse_delivery(body), body, UTC), received)
    mapper = TicketMapper(JSONTranscoder())

    state = mapper.to_stored_event(event.collect_events()[0]).state

    assert state[:1] == b"\x03"
    assert state[1:33].hex() == data_hash(json.loads(body)["data"])
    assert inflated(state) == (
        b'["2024-05-17T14:30:12.123456+00:00","2024-05-17T14:30:12+00:00",'
        b'"2024-05-17T14:30:12"]\n' + body
    )


def test_a_ticket_changed_state_in_another_format_is_refused() -> None:
    mapper = TicketMapper(JSONTranscoder())
    body = delivery(1, quantity=1)
    event = Ticket.first_delivery(facts(body), datetime.now(UTC)).collect_events()[0]
    stored = mapper.to_stored_event(event)

    with pytest.raises(ValueError, match="not in format 3"):
        mapper.to_domain_event(replace(stored, state=b"\x02" + stored.state[1:]))


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
    # Two bodies whose ids (or contents) open alike, 1 in 2^64 by chance, must still be told
    # apart: a key only narrows the search to events whose own body then decides.
    first, second = delivery(1, quantity=1), delivery(1, quantity=2)
    log.record_deliveries([facts(first)])
    with raw_log(database_url) as raw:
        raw.execute(
            "UPDATE event_chain SET delivery_key = ?, content_key = ? WHERE position = 1",
            (delivery_key(delivery_id(second)), delivery_key(facts(second).content_id)),
        )

    assert log.chained_recorder.find_deliveries([delivery_id(second)]) == {}
    assert statuses(log.record_deliveries([facts(second)])) == [("recorded", 1, 2, 2)]
    assert statuses(log.record_deliveries([facts(second)])) == [("duplicate", 1, 2, 2)]


def test_received_times_never_go_back_when_the_clock_does(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ahead = datetime.now(UTC) + timedelta(days=1)

    class ClockAhead(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> ClockAhead:
            return cls.fromtimestamp(ahead.timestamp(), tz)

    bodies = [delivery(ticket_id, quantity=1) for ticket_id in (1, 2, 3)]
    monkeypatch.setattr(application, "datetime", ClockAhead)
    before = opened(database_url)
    try:
        before.record_deliveries([facts(bodies[0])])
    finally:
        before.close()
    monkeypatch.undo()

    # A restart with the clock a day behind the log's last received time.
    log = opened(database_url)
    try:
        for body in bodies[1:]:
            log.record_deliveries([facts(body)])
        events = [log.delivery(delivery_id(body)) for body in bodies]
    finally:
        log.close()

    received = [event.timestamp for event in events if event is not None]
    assert received[0] == ahead
    assert received == sorted(received)


@pytest.mark.parametrize(
    ("received", "source_text", "zone"),
    [
        (datetime(2024, 5, 17, 14, 30, 12, 123456, tzinfo=UTC), "2024-05-17T14:30:12", UTC),
        # Whole seconds (ISO text without a fraction) and a zone the source time is read in.
        (datetime(2024, 5, 17, 14, 30, 12, tzinfo=UTC), "2019-10-10T10:00:00.5", BRASILIA),
        (datetime(1970, 1, 1, tzinfo=UTC), "2024-05-17T14:30:12-03:00", UTC),
    ],
)
@pytest.mark.parametrize("body", [EXACT_BODY, *FIXTURE_BODIES])
def test_the_parts_the_read_side_decodes_make_the_change_the_event_makes(
    body: bytes, received: datetime, source_text: str, zone: tzinfo
) -> None:
    mapper = TicketMapper(JSONTranscoder())
    document = json.loads(body)
    document["timestamp"] = source_text
    body = json.dumps(document).encode()
    facts = delivery_facts(parse_delivery(body), body, zone)
    stored = mapper.to_stored_event(Ticket.first_delivery(facts, received).collect_events()[0])
    event = mapper.to_domain_event(stored)
    assert isinstance(event, TicketChanged)

    from_parts = LoggedChange.of_parts(9, 1, mapper.ticket_change_parts(stored))
    from_event = LoggedChange.of(event, 9)

    assert from_parts == from_event
    assert (from_parts.source_iso, from_parts.received_iso) == (
        from_event.source_iso,
        from_event.received_iso,
    )
    assert (from_parts.source_us, from_parts.received_us) == (
        from_event.source_us,
        from_event.received_us,
    )
