"""What both backends write beside each event: its chain link and its delivery index entries.

A delivery is indexed twice: by its bytes (its delivery id, to give them back) and by its
content (its `timestamp` and canonical `data`, see `service.canonical.content_id`), which
tells a retry however a relay re-serialised it.
"""

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
    content_id: str


@dataclass(frozen=True)
class RecordedRef:
    ticket_id: int
    version: int
    position: int


@dataclass(frozen=True)
class KnownFacts:
    """What the log already holds about a batch, read in one query before judging it."""

    recorded: dict[str, RecordedRef]
    """Content id -> the version that recorded that content, for those already in the log."""
    heads: dict[int, RecordedRef]
    """Ticket id -> its last version, for tickets the log has."""


LinksByEvent = Mapping[tuple[UUID, int], DeliveryLink]


def delivery_key(digest: str) -> int:
    """A key of the delivery index: the first 8 bytes of a delivery or content id (a sha256)
    as a signed bigint.

    It only narrows the search: the ids a match holds are its stored event's body's.
    """
    return int.from_bytes(bytes.fromhex(digest[:16]), "big", signed=True)


# What `known_facts` reads: (position, originator id, version, state). A row with a state is
# an event whose delivery may be one of those asked about; without, the head of a ticket.
FactRow = tuple[int, UUID | str, int, bytes | None]


def known_facts_of(
    rows: Iterable[FactRow], content_ids: Sequence[str], ticket_ids: Sequence[int]
) -> KnownFacts:
    """Keeps of the candidate events those that say what one of the deliveries says: only
    that makes the answer exact, whatever the index narrowed the search by."""
    tickets = {ticket_uuid(ticket_id): ticket_id for ticket_id in ticket_ids}
    heads: dict[int, RecordedRef] = {}
    candidates: list[FactRow] = []
    for row in rows:
        position, originator_id, version, state = row
        if state is None:
            ticket_id = tickets[_uuid(originator_id)]
            heads[ticket_id] = RecordedRef(ticket_id, version, position)
        else:
            candidates.append(row)
    return KnownFacts(_recorded(candidates, content_ids, by_content=True), heads)


def deliveries_of(rows: Iterable[FactRow], delivery_ids: Sequence[str]) -> dict[str, RecordedRef]:
    """Of the candidate events, those whose body is one of the deliveries, by delivery id."""
    return _recorded(rows, delivery_ids, by_content=False)


def _recorded(
    rows: Iterable[FactRow], wanted_ids: Sequence[str], *, by_content: bool
) -> dict[str, RecordedRef]:
    wanted = set(wanted_ids)
    found: dict[str, RecordedRef] = {}
    for position, _, version, state in rows:
        assert state is not None
        delivery = recorded_delivery(state)
        key = delivery.content_id if by_content else delivery.delivery_id
        earlier = found.get(key)
        if key in wanted and (earlier is None or version < earlier.version):
            found[key] = RecordedRef(delivery.ticket_id, version, position)
    return found


def _uuid(originator_id: UUID | str) -> UUID:
    return originator_id if isinstance(originator_id, UUID) else UUID(originator_id)


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

    def probe_write(self) -> None:
        """Raise a storage error unless the log would take a write now; leave no data."""

    def drop_broken_connections(self) -> None:
        """After a lost connection: forget the pooled ones the database has closed."""

    def renew_connections(self) -> None:
        """After an outage: replace every pooled connection, all presumed dead."""

    def known_facts(self, content_ids: Sequence[str], ticket_ids: Sequence[int]) -> KnownFacts:
        """The versions that recorded these contents, and the tickets' heads."""

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
