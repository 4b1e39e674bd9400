"""Logging in to the console with the read or admin token, and out again."""

from __future__ import annotations

from aiohttp import web

from service.console.access import (
    check_csrf,
    end_session,
    safe_next,
    scope_of_token,
    start_session,
    tokens_set,
)
from service.console.pages import page, render


@page
async def login_form(request: web.Request) -> web.Response:
    return _form(request, request.query.get("next"), request.query.get("scope", "read"))


@page
async def login(request: web.Request) -> web.Response:
    form = await check_csrf(request)
    target = safe_next(form.get("next"))
    scope = scope_of_token(request, form.get("token", "")) if tokens_set(request) else None
    if scope is None:
        return _form(request, target, form.get("scope", "read"), failed=True)
    response = web.HTTPSeeOther(target)
    start_session(request, response, scope)
    raise response


@page
async def logout(request: web.Request) -> web.Response:
    await check_csrf(request)
    response = web.HTTPSeeOther("/")
    end_session(response)
    raise response


def _form(
    request: web.Request, target: str | None, scope: str, failed: bool = False
) -> web.Response:
    return render(
        request,
        "login.html",
        {
            "next": safe_next(target),
            "wanted": "admin" if scope == "admin" else "read",
            "failed": failed,
        },
        status=401 if failed else 200,
    )
