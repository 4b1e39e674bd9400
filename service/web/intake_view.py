"""`POST /webhooks/ingresse`: auth and a bounded read, then the shared intake path."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web

from service.intake import QUARANTINED_HEAD_BYTES, Answer
from service.signatures import PendingSignature
from service.web.auth import webhook_token_ok
from service.web.errors import json_response
from service.web.keys import INTAKE, METRICS, SETTINGS, SIGNATURES

# A sender that trickles its body must not hold a connection and a buffer forever.
BODY_READ_TIMEOUT_SECONDS = 30
# How far past the limit a signed body is read (and hashed, not kept) to authenticate it.
SIGNED_READ_CAP_FACTOR = 16

UNAUTHORIZED = Answer(401, {"error": "unauthorized"})
READ_TIMED_OUT = Answer(408, {"error": "request_timeout"})
# Nobody reads this answer; it names the outcome in metrics (499 as proxies log it).
CLIENT_LEFT = Answer(499, {"error": "client_closed_request"})


@dataclass(frozen=True)
class BoundedBody:
    data: bytes
    size: int
    too_large: bool


async def receive_delivery(request: web.Request) -> web.Response:
    started = time.perf_counter()
    answer = await _judge(request, datetime.now(UTC))
    request.app[METRICS].delivery_answered(answer.outcome, time.perf_counter() - started)
    return json_response(answer.body, status=answer.status, headers=answer.headers)


async def _judge(request: web.Request, received_at: datetime) -> Answer:
    if not webhook_token_ok(request, request.app[SETTINGS]):
        return UNAUTHORIZED
    verifier = request.app[SIGNATURES]
    signature = None
    if verifier is not None:
        signature = verifier.start(request.headers)
        if signature is None:
            return UNAUTHORIZED
    intake = request.app[INTAKE]
    arrived = _arrived_whole(request, intake.max_body_bytes, signature)
    if arrived is not None:
        return await intake.receive(arrived, received_at)
    try:
        async with asyncio.timeout(BODY_READ_TIMEOUT_SECONDS):
            body = await read_bounded(request, intake.max_body_bytes, signature)
    except TimeoutError:
        return READ_TIMED_OUT
    except ConnectionResetError:
        # The sender went away mid-body: its fault, not storage's, and nothing to keep.
        return CLIENT_LEFT
    # Auth comes before size: an oversized delivery is judged on its signature first, so an
    # unsigned flood cannot push real rejects out of the bounded quarantine.
    if signature is not None and not signature.matches():
        return UNAUTHORIZED
    if body.too_large:
        return await intake.too_large(body.data, body.size, received_at)
    return await intake.receive(body.data, received_at)


def _arrived_whole(
    request: web.Request, limit: int, signature: PendingSignature | None
) -> bytes | None:
    """The body, when every byte of it is already buffered and within the limit.

    That is how nearly every delivery arrives: it is taken whole, with no read loop and no
    timer, since nothing can stall. Otherwise (still arriving, too large, or a signature to
    check as it is read) None, for `read_bounded`.
    """
    content = request.content
    if signature is not None or not content.is_eof() or content.total_bytes > limit:
        return None
    return content.read_nowait(-1)


async def read_bounded(
    request: web.Request, limit: int, signature: PendingSignature | None = None
) -> BoundedBody:
    """Read at most `limit` bytes; past it, keep only the head for the quarantine.

    With a signature to check, the rest is still read (never kept) so the signature can
    cover it, up to SIGNED_READ_CAP_FACTOR times the limit.
    """
    declared = request.content_length
    too_large = declared is not None and declared > limit
    kept = bytearray()
    size = 0
    while chunk := await request.content.readany():
        size += len(chunk)
        if signature is not None:
            signature.update(chunk)
        too_large = too_large or size > limit
        keep_at_most = QUARANTINED_HEAD_BYTES if too_large else limit
        kept += chunk[: max(keep_at_most - len(kept), 0)]
        del kept[keep_at_most:]
        if too_large and len(kept) >= QUARANTINED_HEAD_BYTES:
            if signature is None:
                break
            if size > limit * SIGNED_READ_CAP_FACTOR:
                signature.abandon()
                break
    if too_large and declared is not None:
        size = max(size, declared)
    return BoundedBody(bytes(kept), size, too_large)
