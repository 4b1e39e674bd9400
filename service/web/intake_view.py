"""`POST /webhooks/ingresse`: auth and a bounded read, then the shared intake path."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web

from service.intake import QUARANTINED_HEAD_BYTES, Answer
from service.web.auth import webhook_token_ok
from service.web.errors import json_response
from service.web.keys import INTAKE, METRICS, SETTINGS, SIGNATURES

# A sender that trickles its body must not hold a connection and a buffer forever.
BODY_READ_TIMEOUT_SECONDS = 30

UNAUTHORIZED = Answer(401, {"error": "unauthorized"})
READ_TIMED_OUT = Answer(408, {"error": "request_timeout"})


@dataclass(frozen=True)
class BoundedBody:
    data: bytes
    size: int
    too_large: bool


async def receive_delivery(request: web.Request) -> web.Response:
    started = time.perf_counter()
    answer = await _judge(request, datetime.now(UTC))
    metrics = request.app[METRICS]
    metrics.deliveries.labels(answer.outcome).inc()
    metrics.intake_latency.observe(time.perf_counter() - started)
    return json_response(answer.body, status=answer.status, headers=answer.headers)


async def _judge(request: web.Request, received_at: datetime) -> Answer:
    if not webhook_token_ok(request, request.app[SETTINGS]):
        return UNAUTHORIZED
    intake = request.app[INTAKE]
    try:
        async with asyncio.timeout(BODY_READ_TIMEOUT_SECONDS):
            body = await read_bounded(request, intake.max_body_bytes)
    except TimeoutError:
        return READ_TIMED_OUT
    if body.too_large:
        # The signature covers the whole body, which is never buffered past the limit; the
        # token (when set) has already been checked.
        return await intake.too_large(body.data, body.size, received_at)
    verifier = request.app[SIGNATURES]
    if verifier is not None and not verifier.verify(request.headers, body.data):
        return UNAUTHORIZED
    return await intake.receive(body.data, received_at)


async def read_bounded(request: web.Request, limit: int) -> BoundedBody:
    """Read at most `limit` bytes; past it, keep only the head for the quarantine."""
    declared = request.content_length
    if declared is not None and declared > limit:
        head = await request.content.read(QUARANTINED_HEAD_BYTES)
        return BoundedBody(head, declared, too_large=True)
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.readany():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return BoundedBody(b"".join(chunks)[:QUARANTINED_HEAD_BYTES], size, too_large=True)
    return BoundedBody(b"".join(chunks), size, too_large=False)
