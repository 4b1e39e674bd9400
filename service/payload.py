"""Turn the raw body of an Ingresse ticket webhook delivery into a validated envelope."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, ClassVar

import orjson

from service import json_codec
from service.delivery_model import FieldError, delivery_errors

SUPPORTED_WEBHOOK = "ticket"
# Error bodies echo caller-supplied text; keep them small whatever the delivery holds.
ECHO_LIMIT = 200
JSON_WHITESPACE = b" \t\r\n"
# Canonical form, the change diff and the JSON encoders all recurse through a document, so
# deeper ones are refused at the door (Ingresse's own deliveries nest a few levels).
MAX_NESTING = 100
_CONTAINERS = (dict, list)


class DeliveryRejected(Exception):
    code: ClassVar[str]

    def body(self) -> dict[str, object]:
        raise NotImplementedError


class MalformedJSON(DeliveryRejected):
    code = "malformed_json"

    def __init__(self, detail: str) -> None:
        self.detail = detail[:ECHO_LIMIT]
        super().__init__(self.detail)

    def body(self) -> dict[str, object]:
        return {"error": self.code, "detail": self.detail}


class InvalidPayload(DeliveryRejected):
    code = "invalid_payload"

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__(errors)

    def body(self) -> dict[str, object]:
        return {"error": self.code, "detail": self.errors}


class UnsupportedWebhook(DeliveryRejected):
    code = "unsupported_webhook"

    def __init__(self, webhook: str) -> None:
        self.webhook = webhook
        super().__init__(webhook[:ECHO_LIMIT])

    def body(self) -> dict[str, object]:
        return {"error": self.code, "webhook": self.webhook[:ECHO_LIMIT]}


@dataclass(frozen=True, slots=True)
class Envelope:
    webhook: str
    timestamp: str
    data: dict[str, Any]
    ticket_id: int
    event_id: int | None


def parse_delivery(body: bytes) -> Envelope:
    """Validate a delivery body: JSON first, then field types, then the webhook kind."""
    document = _decode(body)
    errors = delivery_errors(document)
    if errors:
        raise InvalidPayload(errors)
    if document["webhook"] != SUPPORTED_WEBHOOK:
        raise UnsupportedWebhook(document["webhook"])
    data = document["data"]
    return Envelope(
        webhook=document["webhook"],
        timestamp=document["timestamp"],
        data=data,
        ticket_id=data["id"],
        event_id=data.get("eventId"),
    )


def parse_source_timestamp(text: str, default_zone: tzinfo) -> datetime:
    """Read an ISO 8601 date or date-time; a date alone means midnight.

    Raises ValueError when the text is not ISO 8601.
    """
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=default_zone)
    return moment


def _decode(body: bytes) -> dict[str, Any]:
    if not body.strip(JSON_WHITESPACE):
        raise MalformedJSON("body is empty")
    if json_codec.might_hold_huge_integer(body):
        document = _decode_exact(body)
    else:
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            raise MalformedJSON(str(error)) from None
    if not isinstance(document, dict):
        raise MalformedJSON("top level must be a JSON object")
    if _nests_too_deep(body, document):
        raise MalformedJSON(f"nesting too deep: more than {MAX_NESTING} levels")
    return document


def _nests_too_deep(body: bytes, document: dict[str, Any]) -> bool:
    """True when arrays and objects nest more than MAX_NESTING levels (the top object is 1)."""
    # Nesting needs an opening bracket per level: most bodies have too few to be in doubt.
    if body.count(b"{") + body.count(b"[") <= MAX_NESTING:
        return False
    # A walk with its own stack: a recursive one would fail on the very bodies it looks for.
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        container, depth = pending.pop()
        if depth > MAX_NESTING:
            return True
        items = container.values() if type(container) is dict else container
        pending.extend((item, depth + 1) for item in items if type(item) in _CONTAINERS)
    return False


def _decode_exact(body: bytes) -> Any:
    """Decode keeping integers of any size, refusing everything orjson refuses."""
    try:
        document = json.loads(body.decode("utf-8"))
        # The standard decoder admits NaN, infinities and lone surrogate escapes, which neither
        # orjson nor a UTF-8 store accepts; a strict re-encoding refuses them.
        json.dumps(document, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except RecursionError:
        raise MalformedJSON("nesting too deep") from None
    except ValueError as error:  # covers JSONDecodeError and UnicodeError
        raise MalformedJSON(str(error)) from None
    return document
