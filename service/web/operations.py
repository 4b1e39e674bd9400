"""What each route is for: its summary, parameters and answers, beside the route table.

`openapi.build_spec` joins this table with the routes the app serves and the answer models;
a route without an entry here, or an entry without a route, stops the document from building.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from service.delivery_model import Delivery
from service.web import answers as a
from service.web.paging import DEFAULT_LIMIT, MAX_LIMIT

JSON = dict[str, Any]
Auth = Literal["webhook", "read", "admin", "open"]

INT64: JSON = {"type": "integer", "format": "int64"}
STRING: JSON = {"type": "string"}


@dataclass(frozen=True)
class Reply:
    description: str
    body: type[BaseModel] | JSON | None = None  # as application/json
    media_types: tuple[str, ...] = ()  # text answers, besides or instead of JSON
    headers: tuple[str, ...] = ()  # required headers, named in HEADERS


@dataclass(frozen=True)
class Param:
    name: str
    where: Literal["query", "header"]
    schema: JSON
    description: str


@dataclass(frozen=True)
class Operation:
    operation_id: str
    tag: str
    summary: str
    auth: Auth
    replies: Mapping[int, Reply]
    shared_replies: tuple[str, ...] = ()  # named in SHARED_REPLIES
    parameters: tuple[Param | str, ...] = ()  # a str names one of SHARED_PARAMETERS
    description: str = ""
    request: type[BaseModel] | None = None


HEADERS: dict[str, tuple[JSON, str]] = {
    "Retry-After": ({"type": "integer"}, "Seconds to wait before trying again."),
    "X-Received-At": ({"type": "string", "format": "date-time"}, "When it was recorded."),
}

# Path parameters, by the name the routes give them.
PATH_PARAMETERS: dict[str, tuple[JSON, str]] = {
    "ticketId": (INT64, "Ingresse's ticket id (`data.id`)."),
    "deliveryId": (
        {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "The `deliveryId` of the 201 answer.",
    ),
    "name": (STRING, "A projection's name, as /v1/projections lists it."),
    "id": ({"type": "integer"}, "A quarantine id."),
}

SHARED_PARAMETERS: dict[str, Param] = {
    "limit": Param(
        "limit",
        "query",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
        "Items per page.",
    ),
    "cursor": Param("cursor", "query", STRING, "The `next` of the previous page."),
    "minPosition": Param(
        "minPosition",
        "query",
        {"type": "integer"},
        "Wait (up to 5 s) until the projections have applied this log position, so a "
        "client reads its own write; 503 projection_lag after that. A position past the "
        "log's head answers 400 at once.",
    ),
}

SHARED_REPLIES: dict[str, tuple[int, Reply]] = {
    "BadRequest": (400, Reply("A parameter is invalid.", a.BadRequest)),
    "Unauthorized": (401, Reply("No valid token.", a.Unauthorized)),
    "Forbidden": (403, Reply("The read token cannot call admin routes.", a.Forbidden)),
    "NotFound": (404, Reply("Nothing by that id.", a.NotFound)),
    "ProjectionLag": (
        503,
        Reply(
            "The projections did not reach `minPosition` within 5 s.",
            a.ProjectionLag,
            headers=("Retry-After",),
        ),
    ),
    "StorageUnavailable": (
        503,
        Reply(
            "Storage unreachable or failing; nothing was half-written.",
            a.StorageUnavailable,
            headers=("Retry-After",),
        ),
    ),
}

_EVENT_ID = Param("eventId", "query", INT64, "Only tickets of this Ingresse event.")
_SINCE = Param("since", "query", STRING, "Only from this source time on (ISO 8601).")
_UNTIL = Param("until", "query", STRING, "Only up to this source time (ISO 8601).")
_PATH = Param(
    "path",
    "query",
    STRING,
    "Only changes at, under or above this field path, e.g. `value.price` or "
    "`salePeriods[id=70127].finish`.",
)
_PAGE = ("limit", "cursor")
_READ_ANSWERS = ("BadRequest", "Unauthorized", "NotFound", "ProjectionLag")


def _ticket_read(
    operation_id: str,
    summary: str,
    body: type[BaseModel],
    *parameters: Param | str,
    description: str = "",
) -> Operation:
    return Operation(
        operation_id,
        "tickets",
        summary,
        "read",
        {200: Reply(f"{summary}.", body)},
        _READ_ANSWERS,
        (*parameters, "minPosition"),
        description,
    )


def _admin(
    operation_id: str,
    summary: str,
    body: type[BaseModel],
    *parameters: Param | str,
    shared: tuple[str, ...] = (),
) -> Operation:
    return Operation(
        operation_id,
        "admin",
        summary,
        "admin",
        {200: Reply(f"{summary}.", body)},
        ("BadRequest", "Unauthorized", "Forbidden", *shared),
        parameters,
    )


def _ops(operation_id: str, summary: str, replies: Mapping[int, Reply]) -> Operation:
    return Operation(operation_id, "operations", summary, "open", replies)


OPERATIONS: dict[tuple[str, str], Operation] = {
    ("post", "/webhooks/ingresse"): Operation(
        "receiveDelivery",
        "intake",
        "Record one Ingresse ticket delivery",
        "webhook",
        {
            200: Reply("Equals a recorded delivery: nothing appended.", a.DeliveryDuplicate),
            201: Reply("Appended durably.", a.DeliveryRecorded),
            400: Reply("Not JSON; quarantined.", a.MalformedJSON),
            401: Reply("No valid token, or no valid signature.", a.Unauthorized),
            408: Reply("The body took over 30 s to arrive.", a.RequestTimeout),
            413: Reply(
                "Over TICKET_AUDIT_MAX_BODY_BYTES; its head quarantined.", a.PayloadTooLarge
            ),
            422: Reply("Invalid fields, or not a `ticket` webhook; quarantined.", a.IntakeRefusal),
            503: Reply(
                "Storage unreachable or failing (answered at once while it stays so), or more "
                "deliveries wait than TICKET_AUDIT_INTAKE_QUEUE_DELIVERIES / _BYTES allow; "
                "nothing was half-written.",
                a.IntakeUnavailable,
                headers=("Retry-After",),
            ),
        },
        (),
        (
            Param("token", "query", STRING, "The webhook token, when not sent as a header."),
            Param("webhook-id", "header", STRING, "Standard Webhooks message id."),
            Param("webhook-timestamp", "header", STRING, "Standard Webhooks send time, Unix s."),
            Param("webhook-signature", "header", STRING, "Standard Webhooks `v1,<base64>`."),
        ),
        "Checked in this order: auth (the token, then the Standard Webhooks signature when "
        "TICKET_AUDIT_SIGNING_SECRET is set), size, JSON, fields, webhook kind, duplicate. "
        "Content-Type is not required: the body must be JSON.",
        Delivery,
    ),
    ("get", "/v1/tickets"): Operation(
        "listTickets",
        "tickets",
        "Tickets' current states, by ticket id",
        "read",
        {200: Reply("A page of ticket summaries.", a.TicketPage)},
        ("BadRequest", "Unauthorized", "ProjectionLag"),
        (
            _EVENT_ID,
            Param("type", "query", STRING, "Only tickets of this `type`."),
            Param("parent", "query", INT64, "Only children of this ticket."),
            *_PAGE,
            "minPosition",
        ),
    ),
    ("get", "/v1/tickets/{ticketId}"): _ticket_read(
        "showTicket",
        "A ticket's state: now, as of a time, or at a version",
        a.TicketState,
        Param(
            "at",
            "query",
            STRING,
            "Source time (ISO 8601; TICKET_AUDIT_SOURCE_TIMEZONE without an offset): the "
            "snapshot with the latest source time at or before it.",
        ),
        Param(
            "knownAt",
            "query",
            STRING,
            "Received time (ISO 8601; UTC without an offset): only deliveries received by "
            "then count. Combines with `at`.",
        ),
        Param(
            "version",
            "query",
            {"type": "integer", "minimum": 1},
            "The Nth recorded snapshot; not combined with `at` or `knownAt`.",
        ),
        description="Now is the latest by source time, the later position winning ties.",
    ),
    ("get", "/v1/tickets/{ticketId}/children"): _ticket_read(
        "ticketChildren",
        "Children as of now, by ticket id",
        a.TicketChildren,
        *_PAGE,
        description="From the group's current snapshot and from tickets naming it `parent`.",
    ),
    ("get", "/v1/tickets/{ticketId}/history"): _ticket_read(
        "ticketHistory",
        "Versions in source-time order, with their changes",
        a.HistoryPage,
        _SINCE,
        _UNTIL,
        _PATH,
        *_PAGE,
        description="`late`: arrived after a delivery with a later source time.",
    ),
    ("get", "/v1/changes"): Operation(
        "listChanges",
        "changes",
        "Field changes across tickets, by position",
        "read",
        {
            200: Reply(
                "A page of changes; as NDJSON or CSV, every change. The feed only grows: a "
                "change recomputed by a late delivery comes again after every cursor already "
                "given out, and its former rows are marked `supersededBy`.",
                a.ChangePage,
                ("application/x-ndjson", "text/csv"),
            )
        },
        ("BadRequest", "Unauthorized", "ProjectionLag"),
        (
            _EVENT_ID,
            Param("ticketId", "query", INT64, "Only changes of this ticket."),
            _PATH,
            _SINCE,
            _UNTIL,
            Param(
                "format",
                "query",
                {"enum": ["json", "ndjson", "csv"], "default": "json"},
                "NDJSON or CSV stream the whole result (so does the matching `Accept`).",
            ),
            *_PAGE,
            "minPosition",
        ),
    ),
    ("get", "/v1/tickets/{ticketId}/quantity"): _ticket_read(
        "ticketQuantity", "Quantity, a point per change", a.QuantityTimeline
    ),
    ("get", "/v1/tickets/{ticketId}/sale-periods"): _ticket_read(
        "ticketSalePeriods", "Sale periods, a timeline each", a.SalePeriodTimelines
    ),
    ("get", "/v1/deliveries/{deliveryId}"): Operation(
        "showDelivery",
        "changes",
        "A recorded delivery's body, byte for byte",
        "read",
        {200: Reply("The body exactly as received.", Delivery, headers=("X-Received-At",))},
        ("BadRequest", "Unauthorized", "NotFound"),
        ("minPosition",),
    ),
    ("get", "/v1/projections"): _admin(
        "listProjections", "Projections' positions, lag and state", a.ProjectionList
    ),
    ("post", "/v1/projections/{name}/rebuild"): Operation(
        "rebuildProjection",
        "admin",
        "Rebuild a projection from position 1",
        "admin",
        {202: Reply("Started; progress shows in /v1/projections.", a.RebuildStarted)},
        ("BadRequest", "Unauthorized", "Forbidden", "NotFound"),
    ),
    ("get", "/v1/audit/verify"): _admin("verifyLog", "Check the log's hash chain", a.VerifyReport),
    ("get", "/v1/audit/checkpoint"): _admin(
        "checkpoint", "The log's head, for `verify --checkpoint`", a.Checkpoint
    ),
    ("get", "/v1/quarantine"): _admin(
        "listQuarantine",
        "Rejected deliveries, newest first",
        a.QuarantinePage,
        *_PAGE,
    ),
    ("get", "/v1/quarantine/{id}"): _admin(
        "showQuarantined",
        "One rejected delivery, with its body",
        a.QuarantinedDelivery,
        shared=("NotFound",),
    ),
    ("get", "/healthz"): _ops("healthz", "The process is alive", {200: Reply("Alive.", a.Health)}),
    ("get", "/readyz"): _ops(
        "readyz",
        "Ready to record deliveries: storage takes writes",
        {
            200: Reply("Ready.", a.Readiness),
            503: Reply("Not ready.", a.Readiness, headers=("Retry-After",)),
        },
    ),
    ("get", "/metrics"): _ops(
        "metrics", "Prometheus metrics", {200: Reply("Metrics.", media_types=("text/plain",))}
    ),
    ("get", "/openapi.json"): _ops(
        "openapi", "This document", {200: Reply("OpenAPI 3.1.", {"type": "object"})}
    ),
    ("get", "/docs"): _ops(
        "docs", "This document as a page", {200: Reply("A page.", media_types=("text/html",))}
    ),
}
