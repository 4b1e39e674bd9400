"""The intake path every delivery takes, over HTTP or from `ticket-audit import`.

Auth happens before this (it depends on the transport); from here on the order is the
contract's: size, JSON, fields, webhook kind, duplicate, append.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo

from service.canonical import content_id, data_hash, delivery_id
from service.committer import GroupCommitter, QueueFull, StorageUnavailable
from service.domain import DeliveryFacts
from service.payload import DeliveryRejected, Envelope, parse_delivery, parse_source_timestamp
from service.quarantine import QuarantineStore, QuarantineUnavailable
from service.storage_errors import STORAGE_ERRORS

logger = logging.getLogger(__name__)

QUARANTINED_HEAD_BYTES = 64 * 1024
RETRY_AFTER_SECONDS = "2"
QUARANTINE_ERRORS: tuple[type[BaseException], ...] = (QuarantineUnavailable, *STORAGE_ERRORS)


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, object]
    headers: dict[str, str] = field(default_factory=dict)
    # Where a refused delivery was kept; not part of what the sender is told.
    quarantine_id: int | None = None

    @property
    def outcome(self) -> str:
        return str(self.body.get("status") or self.body.get("error"))


STORAGE_UNAVAILABLE = Answer(
    503, {"error": "storage_unavailable"}, {"Retry-After": RETRY_AFTER_SECONDS}
)
QUEUE_FULL = Answer(503, {"error": "queue_full"}, {"Retry-After": RETRY_AFTER_SECONDS})


@dataclass(frozen=True)
class Refusal:
    """A delivery intake refuses, what it tells the sender, and what the quarantine keeps."""

    answer: Answer
    kept: bytes
    """The body, or its head when it is too large to keep whole."""
    size: int

    @property
    def detail(self) -> object:
        """What the sender was told besides the code: the detail itself, or the other fields."""
        rest = {key: value for key, value in self.answer.body.items() if key != "error"}
        return rest["detail"] if set(rest) == {"detail"} else rest


def screen(raw: bytes, source_zone: tzinfo, max_body_bytes: int) -> DeliveryFacts | Refusal:
    """A delivery's checks before the log, in the contract's order: size, JSON, fields,
    webhook kind. What passes is ready for `record_deliveries`; duplicates are judged there."""
    if len(raw) > max_body_bytes:
        return too_large(raw[:QUARANTINED_HEAD_BYTES], len(raw), max_body_bytes)
    try:
        envelope = parse_delivery(raw)
    except DeliveryRejected as rejected:
        status = 400 if rejected.code == "malformed_json" else 422
        return Refusal(Answer(status, rejected.body()), raw, len(raw))
    return delivery_facts(envelope, raw, source_zone)


def too_large(head: bytes, size: int, max_body_bytes: int) -> Refusal:
    answer = Answer(413, {"error": "payload_too_large", "limit": max_body_bytes})
    return Refusal(answer, head, size)


def keep_refused(quarantine: QuarantineStore, refusal: Refusal, received_at: datetime) -> Answer:
    """Keep a refused delivery in the quarantine; the answer with where it was kept.

    Raises one of QUARANTINE_ERRORS when it cannot be kept.
    """
    error = str(refusal.answer.body["error"])
    quarantine_id = quarantine.add(error, refusal.detail, received_at, refusal.size, refusal.kept)
    # Code and size only: a refused body may hold anything, secrets included.
    logger.info(
        "delivery refused with %d %s (%d bytes), kept in the quarantine as id %d",
        refusal.answer.status,
        error,
        refusal.size,
        quarantine_id,
    )
    return replace(refusal.answer, quarantine_id=quarantine_id)


class Intake:
    def __init__(
        self,
        committer: GroupCommitter,
        quarantine: QuarantineStore,
        quarantine_executor: Executor,
        source_zone: tzinfo,
        max_body_bytes: int,
    ) -> None:
        self._committer = committer
        self._quarantine = quarantine
        self._quarantine_executor = quarantine_executor
        self._source_zone = source_zone
        self.max_body_bytes = max_body_bytes

    async def receive(self, raw: bytes, received_at: datetime) -> Answer:
        screened = screen(raw, self._source_zone, self.max_body_bytes)
        if isinstance(screened, Refusal):
            return await self._quarantined(screened, received_at)
        try:
            outcome = await self._committer.submit(screened)
        except StorageUnavailable:
            return STORAGE_UNAVAILABLE
        except QueueFull:
            return QUEUE_FULL
        return Answer(201 if outcome.status == "recorded" else 200, outcome.as_json())

    async def too_large(self, head: bytes, size: int, received_at: datetime) -> Answer:
        return await self._quarantined(too_large(head, size, self.max_body_bytes), received_at)

    async def _quarantined(self, refusal: Refusal, received_at: datetime) -> Answer:
        loop = asyncio.get_running_loop()
        try:
            answer = await loop.run_in_executor(
                self._quarantine_executor,
                lambda: keep_refused(self._quarantine, refusal, received_at),
            )
        except QUARANTINE_ERRORS:
            # A reject we cannot keep would be lost: ask the sender to try again instead.
            logger.warning("quarantine unavailable; asked the sender to retry a rejected delivery")
            return STORAGE_UNAVAILABLE
        return answer


def delivery_facts(envelope: Envelope, raw: bytes, source_zone: tzinfo) -> DeliveryFacts:
    """What a valid delivery tells the log, from its parsed envelope and its bytes."""
    digest = data_hash(envelope.data)
    return DeliveryFacts(
        ticket_id=envelope.ticket_id,
        event_id=envelope.event_id,
        source_timestamp=parse_source_timestamp(envelope.timestamp, source_zone),
        source_timestamp_text=envelope.timestamp,
        data=envelope.data,
        raw_body=raw,
        delivery_id=delivery_id(raw),
        data_hash=digest,
        content_id=content_id(envelope.timestamp, digest),
    )
