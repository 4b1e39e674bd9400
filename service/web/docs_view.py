"""`GET /openapi.json` and `GET /docs`: the OpenAPI document, as JSON and as a page.

Both are built once, from the routes the app serves: the document depends on nothing but
the code. The page is drawn on the server and needs no script or stylesheet from elsewhere.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from html import escape
from typing import Any

import orjson
from aiohttp import web

from service.web.openapi import build_spec, served_operations
from service.web.operations import JSON

_BACKQUOTED = re.compile(r"`([^`]+)`")
_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222 }
h2 { margin-top: 2em; border-top: 1px solid #ccc; padding-top: .6em; font-size: 1.15em }
table { border-collapse: collapse; margin: .4em 0 1em; width: 100% }
th, td { border: 1px solid #ddd; padding: .25em .5em; text-align: left; vertical-align: top }
th { background: #f4f4f4 }
code { font: 13px ui-monospace, monospace }
.method { display: inline-block; min-width: 3.6em; padding: .1em .4em; border-radius: 3px;
  color: #fff; font: bold 12px ui-monospace, monospace; text-align: center }
.get { background: #2f6fb0 } .post { background: #2f8f4f }
"""


def render_page(spec: JSON) -> str:
    info = spec["info"]
    title = f"{info['title']} {info['version']}"
    parts = [
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}'
        f"</title><style>{_STYLE}</style></head><body><h1>{escape(title)}</h1>",
        f"<p>{_prose(info['description'])}</p>",
        '<p>The same as an OpenAPI 3.1 document: <a href="/openapi.json">/openapi.json</a></p>',
        "<table><tr><th>method</th><th>path</th><th>summary</th></tr>",
    ]
    for method, path, operation in _operations(spec):
        parts.append(
            f'<tr><td>{_method(method)}</td><td><a href="#{operation["operationId"]}">'
            f"<code>{escape(path)}</code></a></td><td>{_prose(operation['summary'])}</td></tr>"
        )
    parts.append("</table>")
    parts.extend(_operation(spec, method, path, op) for method, path, op in _operations(spec))
    parts.append("<h2>Schemas</h2>")
    parts.extend(_schema(name, schema) for name, schema in spec["components"]["schemas"].items())
    parts.append("</body></html>")
    return "".join(parts)


def _operations(spec: JSON) -> Iterator[tuple[str, str, JSON]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def _operation(spec: JSON, method: str, path: str, operation: JSON) -> str:
    schemes = [" and ".join(choice) for choice in operation["security"]]
    parts = [
        f'<h2 id="{operation["operationId"]}">{_method(method)} <code>{escape(path)}</code></h2>',
        f"<p>{_prose(operation['summary'])}</p>",
        f"<p>{_prose(operation.get('description', ''))}</p>",
        f"<p>Auth: {escape(' or '.join(schemes) or 'none')}</p>",
    ]
    parameters = [_resolve(spec, parameter) for parameter in operation.get("parameters", [])]
    if parameters:
        parts.append(
            _table(
                ("parameter", "in", "type", "required", "description"),
                [
                    (
                        f"<code>{escape(p['name'])}</code>",
                        escape(p["in"]),
                        _type(p["schema"]),
                        "yes" if p.get("required") else "no",
                        _prose(p.get("description", "")),
                    )
                    for p in parameters
                ],
            )
        )
    if "requestBody" in operation:
        body = operation["requestBody"]
        parts.append(
            f"<p>Request body: {_content(body['content'])}. "
            f"{_prose(body.get('description', ''))}</p>"
        )
    rows = []
    for status, answer in operation["responses"].items():
        answer = _resolve(spec, answer)
        headers = ", ".join(f"<code>{escape(name)}</code>" for name in answer.get("headers", {}))
        rows.append(
            (status, _prose(answer["description"]), _content(answer.get("content", {})), headers)
        )
    parts.append(_table(("status", "meaning", "body", "headers"), rows))
    return "".join(parts)


def _schema(name: str, schema: JSON) -> str:
    variants = schema.get("oneOf") or schema.get("anyOf") or [schema]
    tables = [
        _table(
            ("field", "type", "required", "description"),
            [
                (
                    f"<code>{escape(field)}</code>",
                    _type(sub),
                    "yes" if required else "no",
                    _prose(sub.get("description", "")),
                )
                for field, sub, required in _fields(variant, "")
            ],
        )
        for variant in variants
        if "properties" in variant
    ]
    own = schema.get("description", "")
    return f'<h3 id="schema-{name}">{escape(name)}</h3><p>{_prose(own)}</p>{"".join(tables)}'


def _fields(schema: JSON, prefix: str) -> Iterator[tuple[str, JSON, bool]]:
    """Every field, with those of inline nested objects spelled as paths (`points[].version`)."""
    required = set(schema.get("required", []))
    for name, sub in schema["properties"].items():
        yield prefix + name, sub, name in required
        nested, suffix = sub, "."
        if sub.get("type") == "array":
            nested, suffix = sub["items"], "[]."
        nested = next((alt for alt in nested.get("anyOf", []) if "properties" in alt), nested)
        if "properties" in nested:
            yield from _fields(nested, f"{prefix}{name}{suffix}")


def _type(schema: JSON) -> str:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f'<a href="#schema-{name}">{escape(name)}</a>'
    if "const" in schema:
        return f"<code>{escape(json.dumps(schema['const']))}</code>"
    if "enum" in schema:
        return " | ".join(f"<code>{escape(json.dumps(value))}</code>" for value in schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " | ".join(_type(alternative) for alternative in schema[key])
    kinds: Any = schema.get("type", "any")
    if kinds == "array":
        return (
            "empty array" if schema.get("maxItems") == 0 else f"array of {_type(schema['items'])}"
        )
    text = " | ".join(kinds) if isinstance(kinds, list) else str(kinds)
    if "format" in schema:
        text += f" ({schema['format']})"
    return escape(text)


def _content(content: JSON) -> str:
    return "; ".join(
        f"<code>{escape(media)}</code> {_type(entry['schema'])}" for media, entry in content.items()
    )


def _table(headings: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    head = "".join(f"<th>{heading}</th>" for heading in headings)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _prose(text: str) -> str:
    """Escaped text, with `backquoted` words set as code as the descriptions write them."""
    return _BACKQUOTED.sub(r"<code>\1</code>", escape(text))


def _method(method: str) -> str:
    return f'<span class="method {method}">{method.upper()}</span>'


def _resolve(spec: JSON, node: JSON) -> JSON:
    """Follow a local `$ref` such as `#/components/responses/NotFound`."""
    if "$ref" not in node:
        return node
    target: JSON = spec
    for key in node["$ref"].removeprefix("#/").split("/"):
        target = target[key]
    return target


@functools.cache
def _rendered(operations: tuple[tuple[str, str], ...]) -> tuple[bytes, str]:
    spec = build_spec(operations)
    return orjson.dumps(spec), render_page(spec)


def _document(request: web.Request) -> tuple[bytes, str]:
    return _rendered(tuple(served_operations(request.app.router)))


async def openapi_document(request: web.Request) -> web.Response:
    return web.Response(body=_document(request)[0], content_type="application/json")


async def docs_page(request: web.Request) -> web.Response:
    return web.Response(text=_document(request)[1], content_type="text/html")
