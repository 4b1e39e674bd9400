"""The service's OpenAPI 3.1 document: every route, its parameters, bodies and answers.

Components (schemas, shared parameters and answers, security) live in `openapi_schemas`;
this module is the table of paths.
"""

from __future__ import annotations

from importlib.metadata import version

from service.web.openapi_schemas import (
    DELIVERY_ID,
    INT64,
    JSON,
    PARAMETERS,
    RESPONSES,
    RETRY_AFTER,
    SCHEMAS,
    SECURITY_SCHEMES,
    TIMESTAMP,
    header_param,
    json_answer,
    path_param,
    query_param,
    ref,
    shared_answers,
    shared_params,
    text_answer,
)

PACKAGE = "ticket-audit"

_DESCRIPTION = (
    "Tamper-evident, event-sourced audit log of Ingresse ticket webhooks. Each token is "
    "required only when it is set, and the service runs with a token unset only while it "
    "listens on a loopback address. The read routes also accept the admin token."
)

_WEBHOOK: list[JSON] = [{"webhookToken": []}, {"webhookQueryToken": []}]
_READ: list[JSON] = [{"readToken": []}, {"adminToken": []}]
_ADMIN: list[JSON] = [{"adminToken": []}]
_OPEN: list[JSON] = []

_STRING: JSON = {"type": "string"}
_TICKET_ID = path_param("ticketId", INT64, "Ingresse's ticket id (`data.id`).")
_EVENT_ID = query_param("eventId", INT64, "Only tickets of this Ingresse event.")
_FIELD_PATH = query_param(
    "path", _STRING, "A change path, e.g. `value.price` or `salePeriods[id=70127].finish`."
)
_SINCE = query_param("since", _STRING, "Only from this source time on (ISO 8601).")
_UNTIL = query_param("until", _STRING, "Only up to this source time (ISO 8601).")


def build_spec() -> JSON:
    return {
        "openapi": "3.1.0",
        "info": {"title": PACKAGE, "version": version(PACKAGE), "description": _DESCRIPTION},
        "tags": [
            {"name": "intake", "description": "Webhook deliveries."},
            {"name": "tickets", "description": "Tickets' states and timelines."},
            {"name": "changes", "description": "The change feed and the recorded deliveries."},
            {"name": "admin", "description": "Projections, tamper evidence, quarantine."},
            {"name": "operations", "description": "Health, metrics and this document."},
        ],
        "paths": _paths(),
        "components": {
            "schemas": SCHEMAS,
            "parameters": PARAMETERS,
            "responses": RESPONSES,
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


def _paths() -> JSON:
    return {
        "/webhooks/ingresse": {"post": _intake()},
        "/v1/tickets": {"get": _ticket_list()},
        "/v1/tickets/{ticketId}": {"get": _ticket_state()},
        "/v1/tickets/{ticketId}/history": {"get": _ticket_history()},
        "/v1/tickets/{ticketId}/quantity": {
            "get": _ticket_read(
                "ticketQuantity", "Quantity, a point per change", "QuantityTimeline"
            )
        },
        "/v1/tickets/{ticketId}/sale-periods": {
            "get": _ticket_read(
                "ticketSalePeriods", "Sale periods, a timeline each", "SalePeriodTimelines"
            )
        },
        "/v1/tickets/{ticketId}/children": {
            "get": _ticket_read("ticketChildren", "Children as of now", "TicketChildren")
        },
        "/v1/deliveries/{deliveryId}": {"get": _delivery()},
        "/v1/changes": {"get": _change_feed()},
        "/v1/projections": {
            "get": _admin(
                "listProjections",
                "Projections' positions, lag and state",
                {"type": "array", "items": ref("ProjectionStatus")},
            )
        },
        "/v1/projections/{name}/rebuild": {"post": _rebuild()},
        "/v1/audit/verify": {
            "get": _admin("verifyLog", "Check the log's hash chain", ref("VerifyReport"))
        },
        "/v1/audit/checkpoint": {
            "get": _admin(
                "checkpoint", "The log's head, for `verify --checkpoint`", ref("Checkpoint")
            )
        },
        "/v1/quarantine": {
            "get": _admin(
                "listQuarantine",
                "Rejected deliveries, newest first",
                ref("QuarantinePage"),
                shared_params("limit", "cursor"),
                shared_answers("BadRequest"),
            )
        },
        "/v1/quarantine/{id}": {
            "get": _admin(
                "showQuarantined",
                "One rejected delivery, with its body",
                ref("QuarantinedDelivery"),
                [path_param("id", {"type": "integer"}, "A quarantine id.")],
                shared_answers("NotFound"),
            )
        },
        "/healthz": {
            "get": _ops("healthz", "The process is alive", json_answer("Alive.", ref("Health")))
        },
        "/readyz": {"get": _readiness()},
        "/metrics": {
            "get": _ops("metrics", "Prometheus metrics", text_answer("Metrics.", "text/plain"))
        },
        "/openapi.json": {
            "get": _ops("openapi", "This document", json_answer("OpenAPI 3.1.", {"type": "object"}))
        },
        "/docs": {
            "get": _ops("docs", "This document as a page", text_answer("A page.", "text/html"))
        },
    }


def _intake() -> JSON:
    envelope = {"schema": ref("Envelope")}
    operation = _operation(
        "receiveDelivery",
        "intake",
        "Record one Ingresse ticket delivery",
        _WEBHOOK,
        [
            query_param("token", _STRING, "The webhook token, when not sent as a header."),
            header_param("webhook-id", "Standard Webhooks message id."),
            header_param("webhook-timestamp", "Standard Webhooks send time, Unix seconds."),
            header_param("webhook-signature", "Standard Webhooks signatures, `v1,<base64>`."),
        ],
        {
            "200": json_answer(
                "Equals the latest version: nothing appended.", ref("DeliveryDuplicate")
            ),
            "201": json_answer("Appended durably.", ref("DeliveryRecorded")),
            "400": json_answer("Not JSON; quarantined.", ref("MalformedJSON")),
            "401": json_answer("No valid token, or no valid signature.", ref("Unauthorized")),
            "408": json_answer("The body took over 30 s to arrive.", ref("RequestTimeout")),
            "413": json_answer(
                "Over TICKET_AUDIT_MAX_BODY_BYTES; its head quarantined.", ref("PayloadTooLarge")
            ),
            "422": json_answer(
                "Invalid fields, or not a `ticket` webhook; quarantined.",
                {"oneOf": [ref("InvalidPayload"), ref("UnsupportedWebhook")]},
            ),
            **shared_answers("StorageUnavailable"),
        },
        "Checked in this order: auth (the token, then the Standard Webhooks signature when "
        "TICKET_AUDIT_SIGNING_SECRET is set), size, JSON, fields, webhook kind, duplicate. "
        "Content-Type is not required: the body must be JSON.",
    )
    operation["requestBody"] = {
        "required": True,
        "description": "Ingresse's envelope, kept byte for byte.",
        "content": {"application/json": envelope, "*/*": envelope},
    }
    return operation


def _ticket_list() -> JSON:
    return _operation(
        "listTickets",
        "tickets",
        "Tickets' current states, by ticket id",
        _READ,
        [
            _EVENT_ID,
            query_param("type", _STRING, "Only tickets of this `type`."),
            query_param("parent", INT64, "Only children of this ticket."),
            *shared_params("limit", "cursor", "minPosition"),
        ],
        {
            "200": json_answer("A page of ticket summaries.", ref("TicketPage")),
            **shared_answers("BadRequest", "Unauthorized", "ProjectionLag"),
        },
    )


def _ticket_state() -> JSON:
    return _ticket_read(
        "showTicket",
        "A ticket's state: now, as of a time, or at a version",
        "TicketState",
        query_param(
            "at",
            _STRING,
            "Source time (ISO 8601; TICKET_AUDIT_SOURCE_TIMEZONE without an offset): the "
            "snapshot with the latest source time at or before it.",
        ),
        query_param(
            "knownAt",
            _STRING,
            "Received time (ISO 8601; UTC without an offset): only deliveries received by "
            "then count. Combines with `at`.",
        ),
        query_param(
            "version",
            {"type": "integer", "minimum": 1},
            "The Nth recorded snapshot; not combined with `at` or `knownAt`.",
        ),
        description="Now is the latest by source time, the later position winning ties.",
    )


def _ticket_history() -> JSON:
    return _ticket_read(
        "ticketHistory",
        "Versions in source-time order, with their changes",
        "HistoryPage",
        _SINCE,
        _UNTIL,
        query_param("path", _STRING, "Only versions that changed this field path."),
        *shared_params("limit", "cursor"),
        description="`late`: arrived after a delivery with a later source time.",
    )


def _delivery() -> JSON:
    return _operation(
        "showDelivery",
        "changes",
        "A recorded delivery's body, byte for byte",
        _READ,
        [path_param("deliveryId", DELIVERY_ID, "The `deliveryId` of the 201 answer.")],
        {
            "200": json_answer(
                "The body exactly as received.",
                ref("Envelope"),
                {"X-Received-At": {"required": True, "schema": TIMESTAMP}},
            ),
            **shared_answers("Unauthorized", "NotFound"),
        },
    )


def _change_feed() -> JSON:
    return _operation(
        "listChanges",
        "changes",
        "Field changes across tickets, by position",
        _READ,
        [
            _EVENT_ID,
            query_param("ticketId", INT64, "Only changes of this ticket."),
            _FIELD_PATH,
            _SINCE,
            _UNTIL,
            query_param(
                "format",
                {"enum": ["json", "ndjson", "csv"], "default": "json"},
                "NDJSON or CSV stream the whole result (so does the matching `Accept`).",
            ),
            *shared_params("limit", "cursor", "minPosition"),
        ],
        {
            "200": {
                "description": "A page of changes; as NDJSON or CSV, every change.",
                "content": {
                    "application/json": {"schema": ref("ChangePage")},
                    "application/x-ndjson": {"schema": _STRING},
                    "text/csv": {"schema": _STRING},
                },
            },
            **shared_answers("BadRequest", "Unauthorized", "ProjectionLag"),
        },
    )


def _rebuild() -> JSON:
    return _operation(
        "rebuildProjection",
        "admin",
        "Rebuild a projection from position 1",
        _ADMIN,
        [path_param("name", _STRING, "A projection's name, as /v1/projections lists it.")],
        {
            "202": json_answer(
                "Started; progress shows in /v1/projections.", ref("RebuildStarted")
            ),
            **shared_answers("Unauthorized", "Forbidden", "NotFound"),
        },
    )


def _readiness() -> JSON:
    return _ops(
        "readyz",
        "Storage reachable and projections live",
        json_answer("Ready.", ref("Readiness")),
        {"503": json_answer("Not ready.", ref("Readiness"), {"Retry-After": RETRY_AFTER})},
    )


def _ticket_read(
    operation_id: str, summary: str, schema_name: str, *parameters: JSON, description: str = ""
) -> JSON:
    return _operation(
        operation_id,
        "tickets",
        summary,
        _READ,
        [_TICKET_ID, *parameters, *shared_params("minPosition")],
        {
            "200": json_answer(f"{summary}.", ref(schema_name)),
            **shared_answers("BadRequest", "Unauthorized", "NotFound", "ProjectionLag"),
        },
        description,
    )


def _admin(
    operation_id: str,
    summary: str,
    schema: JSON,
    parameters: list[JSON] | None = None,
    answers: JSON | None = None,
) -> JSON:
    responses = {
        "200": json_answer(f"{summary}.", schema),
        **shared_answers("Unauthorized", "Forbidden"),
        **(answers or {}),
    }
    return _operation(operation_id, "admin", summary, _ADMIN, parameters or [], responses)


def _ops(operation_id: str, summary: str, ok: JSON, answers: JSON | None = None) -> JSON:
    responses = {"200": ok, **(answers or {})}
    return _operation(operation_id, "operations", summary, _OPEN, [], responses)


def _operation(
    operation_id: str,
    tag: str,
    summary: str,
    security: list[JSON],
    parameters: list[JSON],
    responses: JSON,
    description: str = "",
) -> JSON:
    operation: JSON = {
        "operationId": operation_id,
        "tags": [tag],
        "summary": summary,
        "security": security,
        "responses": dict(sorted(responses.items())),
    }
    if description:
        operation["description"] = description
    if parameters:
        operation["parameters"] = parameters
    return operation
