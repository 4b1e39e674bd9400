"""What both backends write beside each event: its chain link and its delivery index entry."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from eventsourcing.persistence import Notification, StoredEvent

from service.chain import ChainRow, Checkpoint, link_hashes, merge_by_position

VERIFY_PAGE_SIZE = 1000


@dataclass(frozen=True)
class DeliveryLink:
    """Passed to `save(..., links=...)` so the recorder can index each event by its delivery."""

    ticket_id: int
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

LinkRow = tuple[int, int | None, int, str | None, str]


def link_rows(
    previous_hash: str,
    positions: Sequence[int],
    stored_events: Sequence[StoredEvent],
    links: LinksByEvent | None,
) -> list[LinkRow]:
    """Rows of the chain table: (position, ticket_id, version, delivery_id, hash).

    Events saved without delivery facts (the library's own test cases do that) are still
    chained, with no ticket or delivery.
    """
    rows: list[LinkRow] = []
    for (position, digest), event in zip(
        link_hashes(previous_hash, positions, stored_events), stored_events, strict=True
    ):
        link = links.get(event_key(event)) if links else None
        rows.append(
            (
                position,
                link.ticket_id if link else None,
                event.originator_version,
                link.delivery_id if link else None,
                digest,
            )
        )
    return rows


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
