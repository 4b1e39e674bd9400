"""The service's OpenAPI 3.1 document, generated from the routes the app serves, the table of
what each is for (`operations`), and the answer models (`answers`, `delivery_model`)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from importlib.metadata import version
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema
from pydantic_core import core_schema

from service.web.operations import (
    HEADERS,
    JSON,
    OPERATIONS,
    PATH_PARAMETERS,
    SHARED_PARAMETERS,
    SHARED_REPLIES,
    Auth,
    Operation,
    Param,
    Reply,
)

PACKAGE = "ticket-audit"
SCHEMAS = "#/components/schemas/{model}"

_DESCRIPTION = (
    "Tamper-evident, event-sourced audit log of Ingresse ticket webhooks. Each token is "
    "required only when it is set, and the service runs with a token unset only while it "
    "listens on a loopback address. The read routes also accept the admin token. A /v1 "
    "route answers 400 bad_request to a query parameter it does not list, or one given twice."
)
_TAGS = {
    "intake": "Webhook deliveries.",
    "tickets": "Tickets' states and timelines.",
    "changes": "The change feed and the recorded deliveries.",
    "admin": "Projections, tamper evidence, quarantine.",
    "operations": "Health, metrics and this document.",
}
_SECURITY: dict[Auth, list[JSON]] = {
    "webhook": [{"webhookToken": []}, {"webhookQueryToken": []}],
    "read": [{"readToken": []}, {"adminToken": []}],
    "admin": [{"adminToken": []}],
    "open": [],
}
_SECURITY_SCHEMES: JSON = {
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
_PATH_PARAMETER = re.compile(r"{(\w+)}")


class _Schemas(GenerateJsonSchema):
    """pydantic's JSON Schema without what an API document does not need: a title per field,
    and defaults (an optional field of an answer is absent, not defaulted)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])


# Routes named with this prefix are pages for people (the console), not operations of the API.
PAGE_ROUTE_PREFIX = "console-"


def served_operations(router: web.UrlDispatcher) -> list[tuple[str, str]]:
    """(method, path template) of every API route, in the order the route table adds them."""
    return [
        (route.method.lower(), route.resource.canonical)
        for route in router.routes()
        if route.method != "HEAD"
        and route.resource is not None
        and not (route.resource.name or "").startswith(PAGE_ROUTE_PREFIX)
    ]


def build_spec(operations: Iterable[tuple[str, str]]) -> JSON:
    served = list(operations)
    undocumented = set(served) - set(OPERATIONS)
    unserved = set(OPERATIONS) - set(served)
    if undocumented or unserved:
        raise LookupError(f"routes without a description: {undocumented}; not served: {unserved}")
    refs, schemas = _schemas(OPERATIONS[key] for key in served)
    paths: dict[str, JSON] = {}
    for method, path in served:
        paths.setdefault(path, {})[method] = _operation(path, OPERATIONS[method, path], refs)
    return {
        "openapi": "3.1.0",
        "info": {"title": PACKAGE, "version": version(PACKAGE), "description": _DESCRIPTION},
        "tags": [{"name": name, "description": text} for name, text in _TAGS.items()],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "parameters": {name: _parameter(p) for name, p in SHARED_PARAMETERS.items()},
            "responses": {name: _reply(reply, refs) for name, (_, reply) in SHARED_REPLIES.items()},
            "securitySchemes": _SECURITY_SCHEMES,
        },
    }


def _schemas(operations: Iterable[Operation]) -> tuple[dict[object, JSON], JSON]:
    """A `$ref` for each model the document names, and every model's schema under its name."""
    models: dict[type[BaseModel], None] = {}
    for operation in operations:
        if operation.request is not None:
            models[operation.request] = None
        models.update(dict.fromkeys(_models(operation.replies.values())))
    models.update(dict.fromkeys(_models(reply for _, reply in SHARED_REPLIES.values())))
    refs, document = models_json_schema(
        [(model, "validation") for model in models],
        ref_template=SCHEMAS,
        schema_generator=_Schemas,
    )
    schemas: JSON = document.get("$defs", {})
    for schema in schemas.values():
        schema.pop("title", None)
    return {model: ref for (model, _), ref in refs.items()}, schemas


def _models(replies: Iterable[Reply]) -> Iterator[type[BaseModel]]:
    for reply in replies:
        if isinstance(reply.body, type):
            yield reply.body


def _operation(path: str, operation: Operation, refs: dict[object, JSON]) -> JSON:
    replies = {str(status): _reply(reply, refs) for status, reply in operation.replies.items()}
    for name in operation.shared_replies:
        status, _ = SHARED_REPLIES[name]
        replies[str(status)] = {"$ref": f"#/components/responses/{name}"}
    document: JSON = {
        "operationId": operation.operation_id,
        "tags": [operation.tag],
        "summary": operation.summary,
        "security": _SECURITY[operation.auth],
        "responses": dict(sorted(replies.items())),
    }
    if operation.description:
        document["description"] = operation.description
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": PATH_PARAMETERS[name][0],
            "description": PATH_PARAMETERS[name][1],
        }
        for name in _PATH_PARAMETER.findall(path)
    ]
    for parameter in operation.parameters:
        if isinstance(parameter, str):
            parameters.append({"$ref": f"#/components/parameters/{parameter}"})
        else:
            parameters.append(_parameter(parameter))
    if parameters:
        document["parameters"] = parameters
    if operation.request is not None:
        body = {"schema": refs[operation.request]}
        document["requestBody"] = {
            "required": True,
            "description": operation.request.__doc__ or "",
            # Content-Type is not required: any body is read as JSON.
            "content": {"application/json": body, "*/*": body},
        }
    return document


def _parameter(parameter: Param) -> JSON:
    return {
        "name": parameter.name,
        "in": parameter.where,
        "schema": parameter.schema,
        "description": parameter.description,
    }


def _reply(reply: Reply, refs: dict[object, JSON]) -> JSON:
    content: JSON = {}
    if isinstance(reply.body, type):
        content["application/json"] = {"schema": refs[reply.body]}
    elif reply.body is not None:
        content["application/json"] = {"schema": reply.body}
    for media_type in reply.media_types:
        content[media_type] = {"schema": {"type": "string"}}
    document: JSON = {"description": reply.description, "content": content}
    if reply.headers:
        document["headers"] = {
            name: {"required": True, "schema": HEADERS[name][0], "description": HEADERS[name][1]}
            for name in reply.headers
        }
    return document
