"""Who may call what: the webhook token or signature, the read token, the admin token."""

from __future__ import annotations

import hmac
from typing import Literal

from aiohttp import web
from pydantic import SecretStr

from service.settings import Settings
from service.web.errors import json_error

Scope = Literal["read", "admin"]


def _presented_token(request: web.Request, *, allow_query: bool) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if allow_query:
        return request.query.get("token")
    return None


def _matches(presented: str | None, expected: SecretStr) -> bool:
    if presented is None:
        return False
    # Header bytes that are not UTF-8 reach us as lone surrogates; turned back into the bytes
    # that were sent, they simply fail to match.
    sent = presented.encode("utf-8", "surrogateescape")
    return hmac.compare_digest(sent, expected.get_secret_value().encode())


def webhook_token_ok(request: web.Request, settings: Settings) -> bool:
    if settings.webhook_token is None:
        return True
    presented = _presented_token(request, allow_query=True)
    return _matches(presented, settings.webhook_token)


def check_scope(request: web.Request, settings: Settings, scope: Scope) -> None:
    """Raise 401 without a valid token, 403 for a valid token of too narrow a scope."""
    presented = _presented_token(request, allow_query=False)
    admin, read = settings.admin_token, settings.read_token
    if scope == "admin":
        if admin is None or _matches(presented, admin):
            return
        if read is not None and _matches(presented, read):
            raise json_error(403, {"error": "forbidden"})
        raise json_error(401, {"error": "unauthorized"})
    if read is None or _matches(presented, read):
        return
    if admin is not None and _matches(presented, admin):
        return
    raise json_error(401, {"error": "unauthorized"})
