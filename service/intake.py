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
        if len(raw) > self.max_body_bytes:
            return await self.too_large(raw[:QUARANTINED_HEAD_BYTES], len(raw), received_at)
        try:
            envelope = parse_delivery(raw)
        except DeliveryRejected as rejected:
            status = 400 if rejected.code == "malformed_json" else 422
            return await self._quarantined(
                Answer(status, rejected.body()), raw, len(raw), received_at
            )
        try:
            outcome = await self._committer.submit(delivery_facts(envelope, raw, self._source_zone))
        except StorageUnavailable:
            return STORAGE_UNAVAILABLE
        except QueueFull:
            return QUEUE_FULL
        return Answer(201 if outcome.status == "recorded" else 200, outcome.as_json())

    async def too_large(self, head: bytes, size: int, received_at: datetime) -> Answer:
        answer = Answer(413, {"error": "payload_too_large", "limit": self.max_body_bytes})
        return await self._quarantined(answer, head, size, received_at)

    async def _quarantined(
        self, answer: Answer, body: bytes, size: int, received_at: datetime
    ) -> Answer:
        error = str(answer.body["error"])
        # What the sender was told besides the code: the detail itself, or the other fields.
        rest = {key: value for key, value in answer.body.items() if key != "error"}
        detail = rest["detail"] if set(rest) == {"detail"} else rest
        loop = asyncio.get_running_loop()
        try:
            quarantine_id = await loop.run_in_executor(
                self._quarantine_executor,
                lambda: self._quarantine.add(error, detail, received_at, size, body),
            )
        except QUARANTINE_ERRORS:
            # A reject we cannot keep would be lost: ask the sender to try again instead.
            logger.warning("quarantine unavailable; asked the sender to retry a rejected delivery")
            return STORAGE_UNAVAILABLE
        # Code and size only: a refused body may hold anything, secrets included.
        logger.info(
            "delivery refused with %d %s (%d bytes), kept in the quarantine as id %d",
            answer.status,
            error,
            size,
            quarantine_id,
        )
        return replace(answer, quarantine_id=quarantine_id)


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
