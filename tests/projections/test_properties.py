"""Properties of the tickets read model over random delivery sequences, on every backend.

Each example uses ticket ids of its own, as examples share the test's database.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections.read_model import epoch_micros
from projections.runtime.offline import rebuild_offline
from projections.tickets.projection import TicketsProjection
from service.payload import parse_source_timestamp
from service.web.app import create_app
from tests.helpers import delivery, make_settings
from tests.projections.helpers import Recorded, TicketApi, opened, snapshot_answers

OFFSETS = ("", "Z", "+02:00", "-03:00")
# Tickets besides the group in each example.
EXAMPLE_TICKETS = 3
_example_numbers = itertools.count(1)


@dataclass(frozen=True)
class Sent:
    """One delivery of a generated sequence; `again` repeats an earlier body byte for byte.

    The last ticket of an example is a group whose snapshots name some of the others.
    """

    ticket: int
    quantity: int
    price: int
    hour: int
    offset: str
    again: int | None
    children: frozenset[int]

    def body(self, ticket_ids: Sequence[int]) -> tuple[bytes, int]:
        """The delivery and its source time, read in UTC when it has no offset (the default)."""
        timestamp = f"2024-05-17T{10 + self.hour:02}:00:00{self.offset}"
        source_us = epoch_micros(parse_source_timestamp(timestamp, UTC))
        ticket_id = ticket_ids[self.ticket]
        fields: dict[str, Any] = {"quantity": self.quantity, "value": {"price": self.price}}
        if ticket_id == ticket_ids[-1]:
            named = sorted(self.children)
            child = {"quantity": self.quantity, "parent": ticket_id}
            fields |= {"type": "Group", "children": [{"id": ticket_ids[i], **child} for i in named]}
        return delivery(ticket_id, timestamp=timestamp, **fields), source_us


sequences = st.lists(
    st.builds(
        Sent,
        ticket=st.integers(0, EXAMPLE_TICKETS),
        quantity=st.integers(0, 2),
        price=st.sampled_from([10, 12]),
        hour=st.integers(0, 4),
        offset=st.sampled_from(OFFSETS),
        again=st.none() | st.integers(0, 20),
        children=st.frozensets(st.integers(0, EXAMPLE_TICKETS - 1)),
    ),
    min_size=1,
    max_size=12,
)
examples = settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@asynccontextmanager
async def serving(database_url: str) -> AsyncIterator[TicketApi]:
    async with TestClient(TestServer(create_app(make_settings(database_url)))) as client:
        yield TicketApi(client)


@dataclass(frozen=True)
class Version:
    ticket_id: int
    version: int
    position: int
    source_us: int
    received_us: int


async def deliver_all(api: TicketApi, sent: Sequence[Sent]) -> tuple[list[int], list[Version]]:
    """Post the sequence; the example's ticket ids and every version the log recorded."""
    base = next(_example_numbers) * 10
    ticket_ids = [base + index for index in range(EXAMPLE_TICKETS + 1)]
    posted: list[tuple[bytes, int]] = []
    recorded: list[tuple[Recorded, int]] = []
    for item in sent:
        if item.again is not None and posted:
            body, source_us = posted[item.again % len(posted)]
        else:
            body, source_us = item.body(ticket_ids)
        posted.append((body, source_us))
        answer = await api.post_body(body)
        if answer.status == 201:
            recorded.append((answer, source_us))
    versions = []
    for answer, source_us in recorded:
        state = await api.ticket(answer.ticket_id, version=answer.version)
        received_us = epoch_micros(datetime.fromisoformat(state["receivedAt"]))
        versions.append(
            Version(answer.ticket_id, answer.version, answer.position, source_us, received_us)
        )
    return ticket_ids, versions


def expected_version(
    versions: Sequence[Version], ticket_id: int, at_us: int | None, known_us: int | None = None
) -> int | None:
    """The model: the greatest (source time, position) not after `at_us`, among those known."""
    candidates = [
        (v.source_us, v.position, v.version)
        for v in versions
        if v.ticket_id == ticket_id
        and (at_us is None or v.source_us <= at_us)
        and (known_us is None or v.received_us <= known_us)
    ]
    return max(candidates)[2] if candidates else None


async def answered_version(api: TicketApi, ticket_id: int, **params: str) -> int | None:
    """The version answered; None when not found, or when known only from a group."""
    status, body = await api.raw(f"/v1/tickets/{ticket_id}", params)
    assert status in (200, 404), body
    version: int | None = json.loads(body)["version"] if status == 200 else None
    return version


def iso(micros: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)).isoformat()


@given(sent=sequences)
@examples
async def test_point_in_time_answers_follow_the_model(database_url: str, sent: list[Sent]) -> None:
    async with serving(database_url) as api:
        ticket_ids, versions = await deliver_all(api, sent)
        moments = sorted({v.source_us + shift for v in versions for shift in (-1, 0, 1)})
        for ticket_id in ticket_ids:
            assert await answered_version(api, ticket_id) == expected_version(
                versions, ticket_id, None
            )
            for at_us in moments:
                assert await answered_version(api, ticket_id, at=iso(at_us)) == (
                    expected_version(versions, ticket_id, at_us)
                )
            # Bitemporal: as known when each version was received, now and mid-history.
            middle = moments[len(moments) // 2]
            for known_us in sorted({v.received_us for v in versions}):
                assert await answered_version(api, ticket_id, knownAt=iso(known_us)) == (
                    expected_version(versions, ticket_id, None, known_us)
                )
                assert await answered_version(
                    api, ticket_id, at=iso(middle), knownAt=iso(known_us)
                ) == expected_version(versions, ticket_id, middle, known_us)


def rebuild_from_scratch(database_url: str) -> int:
    with opened(database_url) as (log, storage):
        return rebuild_offline(log, storage, TicketsProjection)


@given(sent=sequences)
@examples
async def test_live_answers_equal_a_rebuild(database_url: str, sent: list[Sent]) -> None:
    async with serving(database_url) as api:
        ticket_ids, _ = await deliver_all(api, sent)
        live = await snapshot_answers(api, ticket_ids)
        head = api.head
    assert await asyncio.to_thread(rebuild_from_scratch, database_url) == head
    async with serving(database_url) as api:
        api.head = head
        assert await snapshot_answers(api, ticket_ids) == live
