"""The query parameters each route takes, declared once beside its view and enforced for all.

A mistyped parameter (`asOf` for `at`) must not be ignored: the answer would look right and be
wrong. So a request naming a parameter its route does not take, or naming one twice, gets 400
with the route's parameters listed. The OpenAPI document is checked against these lists.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from aiohttp import web

from service.web.auth import Scope, check_scope
from service.web.errors import JSONError, bad_request
from service.web.keys import SETTINGS

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Error details echo caller-supplied names; keep them short.
_ECHOED_NAME_CHARS = 100

_DECLARED: dict[Handler, tuple[str, ...]] = {}


def takes(*names: str, scope: Scope) -> Callable[[Handler], Handler]:
    """Declare the view's query parameters; any other answers 400 before the view runs.

    Auth still comes first: a caller without the `scope` token gets 401, not a list of
    parameters.
    """

    def declare(view: Handler) -> Handler:
        @functools.wraps(view)
        async def checked(request: web.Request) -> web.StreamResponse:
            try:
                check_parameters(request, names)
            except JSONError:
                check_scope(request, request.app[SETTINGS], scope)
                raise
            return await view(request)

        _DECLARED[checked] = names
        return checked

    return declare


def declared_parameters(handler: Handler) -> tuple[str, ...] | None:
    """The parameters a route's handler declared with `takes`; None when it declared none."""
    return _DECLARED.get(handler)


def check_parameters(request: web.Request, allowed: tuple[str, ...]) -> None:
    seen: set[str] = set()
    for name, _ in request.query.items():
        if name not in allowed:
            listed = ", ".join(allowed) if allowed else "none"
            raise bad_request(f"unknown parameter {_echo(name)}; allowed: {listed}")
        if name in seen:
            raise bad_request(f"parameter {_echo(name)} given more than once")
        seen.add(name)


def _echo(name: str) -> str:
    # A name decoded from bytes that were not UTF-8 holds lone surrogates, which no JSON
    # encoder writes: show them escaped.
    return name[:_ECHOED_NAME_CHARS].encode("utf-8", "backslashreplace").decode()
