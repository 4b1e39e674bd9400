"""Turn the raw body of an Ingresse ticket webhook delivery into a validated envelope."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, ClassVar, TypedDict, TypeGuard

import orjson

from service import json_codec

SUPPORTED_WEBHOOK = "ticket"
BIGINT_MIN = -(2**63)
BIGINT_MAX = 2**63 - 1
# Error bodies echo caller-supplied text; keep them small whatever the delivery holds.
ECHO_LIMIT = 200
JSON_WHITESPACE = b" \t\r\n"


class FieldError(TypedDict):
    loc: list[str | int]
    msg: str


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
    if not _plainly_valid(document):
        errors = _envelope_errors(document)
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
    return document


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


def _plainly_valid(document: dict[str, Any]) -> bool:
    """True only when `_envelope_errors` would find nothing, at a fraction of its cost.

    Every delivery is checked, nearly all of them valid: this asks each question once,
    inline, and leaves the naming of what is wrong to `_envelope_errors`. False may also
    mean an unusual but valid delivery, which `_envelope_errors` then accepts.
    """
    data = document.get("data")
    if (
        type(document.get("webhook")) is not str
        or not _is_timestamp(document.get("timestamp"))
        or type(data) is not dict
        or not _is_identifier(data.get("id"))
        or ("eventId" in data and not _is_identifier(data["eventId"]))
    ):
        return False
    parent = data.get("parent")
    if parent is not None and not _is_identifier(parent):
        return False
    for name in ("quantity", "quantityDiff", "order"):
        if name in data and not _is_whole_number(data[name]):
            return False
    for name in ("salePeriods", "children", "eventDates"):
        if name not in data:
            continue
        items = data[name]
        if type(items) is not list:
            return False
        for item in items:
            if type(item) is not dict or (
                name != "eventDates" and not _is_identifier(item.get("id"))
            ):
                return False
    amounts = data.get("value", {})
    if type(amounts) is not dict:
        return False
    return all(type(amount) is int or type(amount) is float for amount in amounts.values())


def _is_identifier(value: object) -> bool:
    # Exact ints only: bools are ints too, and identifiers land in BIGINT columns.
    return type(value) is int and BIGINT_MIN <= value <= BIGINT_MAX


def _envelope_errors(document: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    if _present(document, "webhook", [], errors) and not isinstance(document["webhook"], str):
        errors.append({"loc": ["webhook"], "msg": "must be a string"})
    if _present(document, "timestamp", [], errors) and not _is_timestamp(document["timestamp"]):
        errors.append({"loc": ["timestamp"], "msg": "must be an ISO 8601 date-time string"})
    if _present(document, "data", [], errors):
        if isinstance(document["data"], dict):
            _check_ticket(document["data"], errors)
        else:
            errors.append({"loc": ["data"], "msg": "must be an object"})
    return errors


def _present(
    container: dict[str, Any], key: str, loc: list[str | int], errors: list[FieldError]
) -> bool:
    if key in container:
        return True
    errors.append({"loc": [*loc, key], "msg": "field required"})
    return False


def _is_timestamp(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        # Whether it parses is all that is asked here: no zone is needed for that.
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _check_ticket(data: dict[str, Any], errors: list[FieldError]) -> None:
    if _present(data, "id", ["data"], errors):
        _check_bigint(data["id"], ["data", "id"], errors)
    if "eventId" in data:
        _check_bigint(data["eventId"], ["data", "eventId"], errors)
    if data.get("parent") is not None:
        _check_bigint(data["parent"], ["data", "parent"], errors)
    for name in ("quantity", "quantityDiff", "order"):
        if name in data and not _is_whole_number(data[name]):
            errors.append({"loc": ["data", name], "msg": "must be an integer"})
    for name in ("salePeriods", "children"):
        if name in data:
            _check_objects(data[name], ["data", name], errors, with_id=True)
    if "eventDates" in data:
        _check_objects(data["eventDates"], ["data", "eventDates"], errors, with_id=False)
    if "value" in data:
        _check_amounts(data["value"], ["data", "value"], errors)


def _is_integer(value: object) -> TypeGuard[int]:
    # JSON true/false arrive as Python bools, which are ints. Identifiers must be exact ints:
    # they key streams and database rows.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_whole_number(value: object) -> bool:
    # Counts such as 100.0 are the same number as 100 (the contract treats 1 and 1.0 as
    # equal everywhere), so they are accepted and kept as delivered; 3.5 is not a count.
    return _is_integer(value) or (isinstance(value, float) and value.is_integer())


def _check_bigint(value: object, loc: list[str | int], errors: list[FieldError]) -> None:
    if not _is_integer(value):
        errors.append({"loc": loc, "msg": "must be an integer"})
    # Identifiers land in BIGINT columns, so they must fit in a signed 64-bit integer.
    elif not BIGINT_MIN <= value <= BIGINT_MAX:
        errors.append({"loc": loc, "msg": "must fit in a signed 64-bit integer"})


def _check_objects(
    value: object, loc: list[str | int], errors: list[FieldError], *, with_id: bool
) -> None:
    if not isinstance(value, list):
        errors.append({"loc": loc, "msg": "must be a list"})
        return
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            errors.append({"loc": [*loc, index], "msg": "must be an object"})
        elif with_id and _present(item, "id", [*loc, index], errors):
            _check_bigint(item["id"], [*loc, index, "id"], errors)


def _check_amounts(value: object, loc: list[str | int], errors: list[FieldError]) -> None:
    if not isinstance(value, dict):
        errors.append({"loc": loc, "msg": "must be an object"})
        return
    for name, amount in value.items():
        if isinstance(amount, bool) or not isinstance(amount, int | float):
            errors.append({"loc": [*loc, name], "msg": "must be a number"})
