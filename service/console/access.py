"""Who may see the console: a session cookie made from the read or admin token, and CSRF.

With a token set, the console asks for it once (`/login`) and keeps an HMAC of it in an
`HttpOnly`, `SameSite=Strict` cookie: the token itself never sits in the browser, and a new
token ends every session made from the old one. Forms that change state carry a random value
that must equal the one in the CSRF cookie (double submit), and a foreign `Origin` is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Literal
from urllib.parse import quote

from aiohttp import web
from pydantic import SecretStr

from service.console.problems import PageError
from service.web.keys import SETTINGS

Scope = Literal["read", "admin"]

SESSION_COOKIE = "ticket_audit_session"
CSRF_COOKIE = "ticket_audit_csrf"
CSRF_FIELD = "csrf"
_NEW_CSRF = web.RequestKey("console_new_csrf", str)


def session_value(scope: Scope, token: SecretStr) -> str:
    digest = hmac.new(
        token.get_secret_value().encode(), f"ticket-audit console {scope}".encode(), hashlib.sha256
    )
    return f"{scope}.{digest.hexdigest()}"


def _session_is(request: web.Request, scope: Scope, token: SecretStr) -> bool:
    presented = request.cookies.get(SESSION_COOKIE, "")
    return hmac.compare_digest(presented.encode(), session_value(scope, token).encode())


def has_scope(request: web.Request, scope: Scope) -> bool:
    """Whether this browser may see pages of `scope`; an unset token leaves its pages open."""
    settings = request.app[SETTINGS]
    admin, read = settings.admin_token, settings.read_token
    admin_session = admin is not None and _session_is(request, "admin", admin)
    if scope == "admin":
        return admin is None or admin_session
    return read is None or admin_session or _session_is(request, "read", read)


def tokens_set(request: web.Request) -> bool:
    settings = request.app[SETTINGS]
    return settings.read_token is not None or settings.admin_token is not None


def require(request: web.Request, scope: Scope) -> None:
    """Send a browser without the scope to the login form, and back here afterwards."""
    if not has_scope(request, scope):
        raise web.HTTPSeeOther(f"/login?scope={scope}&next={quote(request.path_qs, safe='')}")


def scope_of_token(request: web.Request, presented: str) -> Scope | None:
    """The widest scope the token typed into the login form grants."""
    settings = request.app[SETTINGS]
    for scope, token in (("admin", settings.admin_token), ("read", settings.read_token)):
        if token is not None and hmac.compare_digest(
            presented.encode(), token.get_secret_value().encode()
        ):
            return scope  # type: ignore[return-value]
    return None


def start_session(request: web.Request, response: web.StreamResponse, scope: Scope) -> None:
    settings = request.app[SETTINGS]
    token = settings.admin_token if scope == "admin" else settings.read_token
    assert token is not None
    response.set_cookie(
        SESSION_COOKIE,
        session_value(scope, token),
        path="/",
        httponly=True,
        samesite="Strict",
        secure=request.secure,
    )


def end_session(response: web.StreamResponse) -> None:
    response.del_cookie(SESSION_COOKIE, path="/")


def csrf_token(request: web.Request) -> str:
    """The value forms on this page carry: the browser's CSRF cookie, or a new one."""
    existing = request.cookies.get(CSRF_COOKIE)
    if existing:
        return existing
    if _NEW_CSRF not in request:
        request[_NEW_CSRF] = secrets.token_urlsafe(32)
    return request[_NEW_CSRF]


def set_csrf_cookie(request: web.Request, response: web.StreamResponse) -> None:
    """Give the browser the CSRF value a rendered form used, if it had none yet."""
    if _NEW_CSRF in request:
        response.set_cookie(
            CSRF_COOKIE,
            request[_NEW_CSRF],
            path="/",
            httponly=True,
            samesite="Strict",
            secure=request.secure,
        )


async def check_csrf(request: web.Request) -> dict[str, str]:
    """The posted form, once it proves it came from a console page; 403 otherwise."""
    form = await request.post()
    sent = form.get(CSRF_FIELD)
    cookie = request.cookies.get(CSRF_COOKIE)
    origin = request.headers.get("Origin")
    same_origin = origin is None or origin == f"{request.scheme}://{request.host}"
    if (
        not isinstance(sent, str)
        or not cookie
        or not same_origin
        or not hmac.compare_digest(sent.encode(), cookie.encode())
    ):
        raise PageError(403, "This form has expired", "Go back, reload the page and try again.")
    return {name: value for name, value in form.items() if isinstance(value, str)}


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this site, never another site."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"
