"""Rendering a console page: the shared context, parameters as forms send them, errors as pages."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from multidict import MultiDict

from service.console.access import csrf_token, has_scope, set_csrf_cookie, tokens_set
from service.console.problems import PageError
from service.web.errors import JSONError

View = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Only the console's own files may run or style a page, and no other site may frame one (its
# admin forms must not be clicked through a disguise).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def render(
    request: web.Request, template: str, context: Mapping[str, Any], status: int = 200
) -> web.Response:
    shared = {
        "csrf": csrf_token(request),
        "is_admin": has_scope(request, "admin"),
        "can_read": has_scope(request, "read"),
        "tokens_set": tokens_set(request),
        "path": request.path,
        "with_query": lambda **params: str(request.rel_url.update_query(params)),
    }
    response = aiohttp_jinja2.render_template(
        template, request, {**shared, **context}, status=status
    )
    set_csrf_cookie(request, response)
    response.headers.update(SECURITY_HEADERS)
    return response


def page(view: View) -> View:
    """A console view: parameters the API would refuse, and missing things, answer as pages.

    A form sends its empty fields too (`?at=&knownAt=`); those mean "not given", so the
    browser is sent to the same address without them, and the parameters are then read by
    the very functions the API reads them with.
    """

    @functools.wraps(view)
    async def answer(request: web.Request) -> web.StreamResponse:
        if request.method == "GET" and any(value == "" for value in request.query.values()):
            kept = MultiDict((k, v) for k, v in request.query.items() if v != "")
            raise web.HTTPSeeOther(str(request.rel_url.with_query(kept)))
        try:
            return await view(request)
        except JSONError as error:
            detail = str(error.body.get("detail", ""))
            if error.status == 404:
                return render(request, "error.html", _problem(404, "Not found", detail), 404)
            return render(
                request, "error.html", _problem(error.status, "Bad request", detail), error.status
            )
        except PageError as error:
            return render(
                request,
                "error.html",
                _problem(error.status, error.title, error.detail),
                error.status,
            )

    return answer


def _problem(status: int, title: str, detail: str) -> dict[str, Any]:
    return {"status": status, "title": title, "detail": detail}
