"""What both backends write beside each event: its chain link and its delivery index entry."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from eventsourcing.persistence import Notification, StoredEvent

from service.chain import ChainRow, Checkpoint, merge_by_position
from service.domain import ticket_uuid
from service.persistence.event_codec import recorded_delivery

VERIFY_PAGE_SIZE = 1000


@dataclass(frozen=True)
class DeliveryLink:
    """Passed to `save(..., links=...)` so the recorder can index each event by its delivery."""

    delivery_id: str


@dataclass(frozen=True)
class RecordedRef:
    ticket_id: int
    version: int
    position: int


@dataclass(frozen=True)
class KnownFacts:
    """What the log already holds about a batch, read in one query before judging it."""

    recorded: dict[str, RecordedRef]
    """Delivery id -> where that delivery was recorded, for those already in the log."""
    heads: dict[int, RecordedRef]
    """Ticket id -> its last version, for tickets the log has."""


LinksByEvent = Mapping[tuple[UUID, int], DeliveryLink]


def delivery_key(delivery_id: str) -> int:
    """The delivery index's key: the first 8 bytes of the delivery's sha256 as a signed bigint.

    It only narrows the search: the delivery id a match holds is its stored event's body's.
    """
    return int.from_bytes(bytes.fromhex(delivery_id[:16]), "big", signed=True)


# What `known_facts` reads: (position, originator id, version, state). A row with a state is
# an event whose delivery may be one of those asked about; without, the head of a ticket.
FactRow = tuple[int, UUID | str, int, bytes | None]


def known_facts_of(
    rows: Iterable[FactRow], delivery_ids: Sequence[str], ticket_ids: Sequence[int]
) -> KnownFacts:
    """Keeps of the candidate events those whose body is one of the deliveries: only that
    makes the answer exact, whatever the index narrowed the search by."""
    wanted = set(delivery_ids)
    tickets = {ticket_uuid(ticket_id): ticket_id for ticket_id in ticket_ids}
    recorded: dict[str, RecordedRef] = {}
    heads: dict[int, RecordedRef] = {}
    for position, originator_id, version, state in rows:
        if not isinstance(originator_id, UUID):
            originator_id = UUID(originator_id)
        if state is None:
            ticket_id = tickets[originator_id]
            heads[ticket_id] = RecordedRef(ticket_id, version, position)
            continue
        found, ticket_id = recorded_delivery(state)
        if found in wanted:
            recorded[found] = RecordedRef(ticket_id, version, position)
    return KnownFacts(recorded, heads)


def event_key(event: StoredEvent) -> tuple[UUID, int]:
    """The key of `LinksByEvent` for a stored event."""
    originator_id = event.originator_id
    if not isinstance(originator_id, UUID):
        originator_id = UUID(str(originator_id))
    return originator_id, event.originator_version


class ChainedRecorder(Protocol):
    """The queries both backends answer about the chain and the delivery index."""

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]: ...

    def max_notification_id(self) -> int | None: ...

    def find_deliveries(self, delivery_ids: Sequence[str]) -> dict[str, RecordedRef]: ...

    def batch(self) -> AbstractContextManager[None]:
        """Around the reads and the write of one batch, made by one thread."""

    def drop_broken_connections(self) -> None:
        """After a lost connection: forget the pooled ones the database has closed."""

    def known_facts(self, delivery_ids: Sequence[str], ticket_ids: Sequence[int]) -> KnownFacts: ...

    def select_head_events(self, heads: Sequence[tuple[UUID, int]]) -> list[StoredEvent]: ...

    def chain_head(self) -> Checkpoint | None: ...

    def select_links(self, after: int, limit: int) -> list[tuple[int, str]]: ...


def chain_rows(recorder: ChainedRecorder) -> Iterator[ChainRow]:
    """Every position of the log, in order, read page by page so memory stays flat."""
    return merge_by_position(_paged_events(recorder), _paged_links(recorder))


def _paged_events(recorder: ChainedRecorder) -> Iterator[tuple[int, Notification]]:
    after = 0
    while True:
        page = recorder.select_notifications(
            start=after, limit=VERIFY_PAGE_SIZE, inclusive_of_start=False
        )
        for notification in page:
            yield notification.id, notification
        if len(page) < VERIFY_PAGE_SIZE:
            return
        after = page[-1].id


def _paged_links(recorder: ChainedRecorder) -> Iterator[tuple[int, str]]:
    after = 0
    while True:
        page = recorder.select_links(after, VERIFY_PAGE_SIZE)
        yield from page
        if len(page) < VERIFY_PAGE_SIZE:
            return
        after = page[-1][0]
