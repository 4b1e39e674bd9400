"""The OpenAPI document's components: bodies, parameters, shared answers, security schemes.

Our own answer bodies are closed (`additionalProperties: false`) so that a field added to
an answer without its schema shows up in the tests; what Ingresse sends stays free-form.
"""

from __future__ import annotations

from typing import Any

from service.web.paging import DEFAULT_LIMIT, MAX_LIMIT

JSON = dict[str, Any]

INT64: JSON = {"type": "integer", "format": "int64"}
POSITION: JSON = {"type": "integer", "minimum": 0, "description": "Place in the global log."}
VERSION: JSON = {"type": "integer", "minimum": 1}
TIMESTAMP: JSON = {"type": "string", "format": "date-time"}
DELIVERY_ID: JSON = {
    "type": "string",
    "pattern": "^[0-9a-f]{64}$",
    "description": "SHA-256 of the delivery's raw body, in hex.",
}
ANY_VALUE: JSON = {"description": "Any JSON value, as Ingresse sent it."}
CURSOR: JSON = {"type": ["string", "null"], "description": "Opaque; null on the last page."}


def ref(name: str) -> JSON:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: JSON) -> JSON:
    return {"anyOf": [schema, {"type": "null"}]}


def closed(properties: dict[str, JSON], *, optional: tuple[str, ...] = ()) -> JSON:
    return {
        "type": "object",
        "properties": properties,
        "required": [name for name in properties if name not in optional],
        "additionalProperties": False,
    }


def page_of(item_schema: str) -> JSON:
    return closed({"items": {"type": "array", "items": ref(item_schema)}, "next": CURSOR})


def error(code: str, **extra: JSON) -> JSON:
    return closed({"error": {"const": code}, **extra})


def _objects_with_id() -> JSON:
    return {
        "type": "array",
        "items": {"type": "object", "required": ["id"], "properties": {"id": INT64}},
    }


_TICKET_DATA: JSON = {
    "type": "object",
    "description": "The ticket as Ingresse sends it; fields not named here are kept as sent.",
    "required": ["id"],
    "properties": {
        "id": INT64,
        "eventId": INT64,
        "parent": nullable(INT64),
        "quantity": {"type": "integer"},
        "quantityDiff": {"type": "integer"},
        "order": {"type": "integer"},
        "salePeriods": _objects_with_id(),
        "children": _objects_with_id(),
        "value": {"type": "object", "additionalProperties": {"type": "number"}},
        "eventDates": {"type": "array", "items": {"type": "object"}},
        "attributes": {"anyOf": [{"type": "object"}, {"type": "array", "maxItems": 0}]},
    },
}

_ENVELOPE: JSON = {
    "type": "object",
    "required": ["webhook", "data", "timestamp"],
    "properties": {
        "webhook": {
            "type": "string",
            "description": 'Only "ticket" is accepted; any other kind is 422 unsupported_webhook.',
        },
        "data": ref("TicketData"),
        "timestamp": {
            "type": "string",
            "description": "ISO 8601 source time; without an offset, "
            "TICKET_AUDIT_SOURCE_TIMEZONE applies.",
        },
    },
}

_SUMMARY_VALUES = ("name", "type", "quantity", "hidden", "archived", "salable", "available")
_KNOWN_VIA: JSON = {
    "enum": ["self", "group"],
    "description": '"group": never delivered on its own, known from a group\'s children.',
}
_TICKET_SUMMARY = closed(
    {
        "ticketId": INT64,
        "eventId": nullable(INT64),
        "parent": nullable(INT64),
        "version": nullable(VERSION),
        "sourceTimestamp": TIMESTAMP,
        "knownVia": _KNOWN_VIA,
        **{name: ANY_VALUE for name in _SUMMARY_VALUES},
    }
)
_TICKET_STATE = closed(
    {
        "ticketId": INT64,
        "eventId": nullable(INT64),
        "version": nullable(VERSION),
        "position": POSITION,
        "sourceTimestamp": TIMESTAMP,
        "receivedAt": TIMESTAMP,
        "knownVia": _KNOWN_VIA,
        "snapshot": {"type": "object", "description": "`data` as delivered."},
    }
)

_CHANGE_OP: JSON = {"enum": ["add", "remove", "replace"]}
_CHANGE = closed({"path": {"type": "string"}, "op": _CHANGE_OP, "old": ANY_VALUE, "new": ANY_VALUE})
_HISTORY_VERSION = closed(
    {
        "version": VERSION,
        "position": POSITION,
        "sourceTimestamp": TIMESTAMP,
        "receivedAt": TIMESTAMP,
        "late": {
            "type": "boolean",
            "description": "Arrived after a delivery with a later source time.",
        },
        "created": {"const": True, "description": "Only on the first version."},
        "changes": {"type": "array", "items": ref("Change")},
    },
    optional=("created",),
)
_FEED_CHANGE = closed(
    {
        "position": POSITION,
        "ticketId": INT64,
        "eventId": nullable(INT64),
        "version": VERSION,
        "sourceTimestamp": TIMESTAMP,
        "receivedAt": TIMESTAMP,
        "path": {"type": "string"},
        "op": _CHANGE_OP,
        "old": ANY_VALUE,
        "new": ANY_VALUE,
    }
)

_QUANTITY_POINT = closed(
    {
        "sourceTimestamp": TIMESTAMP,
        "version": VERSION,
        "quantity": {"type": "integer"},
        "delta": {"type": ["integer", "null"], "description": "Null on the first point."},
        "quantityDiff": {
            "type": ["integer", "null"],
            "description": "Ingresse's own figure, when it sent one.",
        },
    }
)
_SALE_PERIOD_VALUES = {"start": ANY_VALUE, "finish": ANY_VALUE, "available": ANY_VALUE}
_SALE_PERIOD = closed(
    {
        "id": INT64,
        "appCategoryId": ANY_VALUE,
        "current": nullable(closed(_SALE_PERIOD_VALUES)),
        "firstSeen": TIMESTAMP,
        "removedAt": nullable(TIMESTAMP),
        "states": {
            "type": "array",
            "items": closed(
                {"sourceTimestamp": TIMESTAMP, "version": VERSION, **_SALE_PERIOD_VALUES}
            ),
        },
    }
)

_HEAD = closed({"position": POSITION, "hash": {"type": "string"}})
_VERIFY_REPORT: JSON = {
    "oneOf": [
        closed({"ok": {"const": True}, "checked": {"type": "integer"}, "head": _HEAD}),
        closed(
            {
                "ok": {"const": False},
                "firstBadPosition": POSITION,
                "reason": {"type": "string"},
            }
        ),
    ]
}
_QUARANTINE_SUMMARY_FIELDS: dict[str, JSON] = {
    "id": {"type": "integer"},
    "error": {"type": "string", "description": "The error code the sender was answered."},
    "receivedAt": TIMESTAMP,
    "size": {"type": "integer", "description": "Bytes received."},
}

SCHEMAS: dict[str, JSON] = {
    "Envelope": _ENVELOPE,
    "TicketData": _TICKET_DATA,
    "DeliveryRecorded": closed(
        {
            "status": {"const": "recorded"},
            "ticketId": INT64,
            "version": VERSION,
            "position": POSITION,
            "deliveryId": DELIVERY_ID,
        }
    ),
    "DeliveryDuplicate": closed(
        {
            "status": {"const": "duplicate"},
            "ticketId": INT64,
            "version": VERSION,
            "position": POSITION,
            "deliveryId": DELIVERY_ID,
        },
        optional=("deliveryId",),
    ),
    "TicketState": _TICKET_STATE,
    "TicketSummary": _TICKET_SUMMARY,
    "TicketPage": page_of("TicketSummary"),
    "TicketChildren": closed(
        {"ticketId": INT64, "children": {"type": "array", "items": ref("TicketSummary")}}
    ),
    "Change": _CHANGE,
    "HistoryVersion": _HISTORY_VERSION,
    "HistoryPage": page_of("HistoryVersion"),
    "QuantityTimeline": closed(
        {"ticketId": INT64, "points": {"type": "array", "items": _QUANTITY_POINT}}
    ),
    "SalePeriodTimelines": closed(
        {"ticketId": INT64, "salePeriods": {"type": "array", "items": _SALE_PERIOD}}
    ),
    "FeedChange": _FEED_CHANGE,
    "ChangePage": page_of("FeedChange"),
    "ProjectionStatus": closed(
        {
            "name": {"type": "string"},
            "position": POSITION,
            "head": POSITION,
            "lag": {"type": "integer", "minimum": 0},
            "state": {"enum": ["live", "rebuilding", "failed"]},
        }
    ),
    "RebuildStarted": closed({"name": {"type": "string"}, "state": {"const": "rebuilding"}}),
    "VerifyReport": _VERIFY_REPORT,
    "Checkpoint": closed(
        {
            "position": POSITION,
            "hash": {"type": ["string", "null"], "description": "Null while the log is empty."},
        }
    ),
    "QuarantineSummary": closed(_QUARANTINE_SUMMARY_FIELDS),
    "QuarantinePage": page_of("QuarantineSummary"),
    "QuarantinedDelivery": closed(
        {
            **_QUARANTINE_SUMMARY_FIELDS,
            "detail": {"description": "What the sender was told besides the code."},
            "body": {"type": "string", "description": "As text; invalid UTF-8 replaced."},
        }
    ),
    "Health": closed({"status": {"const": "ok"}}),
    "Readiness": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"enum": ["ready", "unavailable"]}},
    },
    "Unauthorized": error("unauthorized"),
    "Forbidden": error("forbidden"),
    "NotFound": error("not_found"),
    "BadRequest": error("bad_request", detail={"type": "string"}),
    "MalformedJSON": error("malformed_json", detail={"type": "string"}),
    "InvalidPayload": error(
        "invalid_payload",
        detail={
            "type": "array",
            "items": closed(
                {
                    "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                    "msg": {"type": "string"},
                }
            ),
        },
    ),
    "UnsupportedWebhook": error("unsupported_webhook", webhook={"type": "string"}),
    "PayloadTooLarge": error("payload_too_large", limit={"type": "integer"}),
    "RequestTimeout": error("request_timeout"),
    "StorageUnavailable": error("storage_unavailable"),
    "ProjectionLag": error("projection_lag"),
}


def path_param(name: str, schema: JSON, description: str) -> JSON:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": schema,
        "description": description,
    }


def query_param(name: str, schema: JSON, description: str) -> JSON:
    return {"name": name, "in": "query", "schema": schema, "description": description}


def header_param(name: str, description: str) -> JSON:
    return {"name": name, "in": "header", "schema": {"type": "string"}, "description": description}


def shared_params(*names: str) -> list[JSON]:
    return [{"$ref": f"#/components/parameters/{name}"} for name in names]


PARAMETERS: dict[str, JSON] = {
    "limit": query_param(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
        "Items per page.",
    ),
    "cursor": query_param("cursor", {"type": "string"}, "The `next` of the previous page."),
    "minPosition": query_param(
        "minPosition",
        {"type": "integer"},
        "Wait (up to 5 s) until the projections have applied this log position, so a "
        "client reads its own write; 503 projection_lag after that.",
    ),
}

RETRY_AFTER: JSON = {
    "description": "Seconds to wait before trying again.",
    "required": True,
    "schema": {"type": "integer"},
}


def json_answer(description: str, schema: JSON, headers: JSON | None = None) -> JSON:
    answer: JSON = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        answer["headers"] = headers
    return answer


def text_answer(description: str, media_type: str) -> JSON:
    return {"description": description, "content": {media_type: {"schema": {"type": "string"}}}}


RESPONSES: dict[str, JSON] = {
    "BadRequest": json_answer("A parameter is invalid.", ref("BadRequest")),
    "Unauthorized": json_answer("No valid token.", ref("Unauthorized")),
    "Forbidden": json_answer("The read token cannot call admin routes.", ref("Forbidden")),
    "NotFound": json_answer("Nothing by that id.", ref("NotFound")),
    "ProjectionLag": json_answer(
        "The projections did not reach `minPosition` within 5 s.",
        ref("ProjectionLag"),
        {"Retry-After": RETRY_AFTER},
    ),
    "StorageUnavailable": json_answer(
        "Storage unreachable or failing; nothing was half-written.",
        ref("StorageUnavailable"),
        {"Retry-After": RETRY_AFTER},
    ),
}
_RESPONSE_STATUSES = {
    "BadRequest": "400",
    "Unauthorized": "401",
    "Forbidden": "403",
    "NotFound": "404",
    "ProjectionLag": "503",
    "StorageUnavailable": "503",
}


def shared_answers(*names: str) -> JSON:
    return {_RESPONSE_STATUSES[name]: {"$ref": f"#/components/responses/{name}"} for name in names}


SECURITY_SCHEMES: JSON = {
    "webhookToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "TICKET_AUDIT_WEBHOOK_TOKEN, for deliveries.",
    },
    "webhookQueryToken": {
        "type": "apiKey",
        "in": "query",
        "name": "token",
        "description": "TICKET_AUDIT_WEBHOOK_TOKEN as `?token=`, for senders without headers.",
    },
    "readToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "TICKET_AUDIT_READ_TOKEN, for the query API.",
    },
    "adminToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "TICKET_AUDIT_ADMIN_TOKEN, for admin routes and the query API.",
    },
}
