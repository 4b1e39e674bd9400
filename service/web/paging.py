"""`limit` and opaque `cursor` parameters, shared by every list route."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson
from aiohttp import web

from service.web.errors import bad_request
from service.web.reading import BIGINT_RANGE

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

Item = TypeVar("Item")


# ASCII digits only: `str.isdigit` and `int` also take "²" or full-width digits.
_LIMIT = re.compile(r"[0-9]{1,4}")


def page_params(request: web.Request) -> tuple[int, dict[str, Any]]:
    raw_limit = request.query.get("limit", str(DEFAULT_LIMIT))
    if not _LIMIT.fullmatch(raw_limit) or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise bad_request(f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(raw_limit), decode_cursor(request.query.get("cursor"))


def encode_cursor(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(state)).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any]:
    if not cursor:
        return {}
    try:
        state = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, orjson.JSONDecodeError, ValueError):
        raise bad_request("cursor is not one this service gave out") from None
    if not isinstance(state, dict) or not _positions_only(list(state.values())):
        raise bad_request("cursor is not one this service gave out")
    return state


def _positions_only(values: list[Any]) -> bool:
    """Cursors hold integers from BIGINT columns, alone or in lists, and nothing else."""
    while values:
        value = values.pop()
        if type(value) is list:
            values.extend(value)
        elif type(value) is not int or value not in BIGINT_RANGE:
            return False
    return True


@dataclass(frozen=True)
class Page(Generic[Item]):
    items: Sequence[Item]
    next_cursor: str | None

    @classmethod
    def of(
        cls, fetched: Sequence[Item], limit: int, cursor_after: Callable[[Item], dict[str, Any]]
    ) -> Page[Item]:
        """`fetched` holds up to limit + 1 items; the extra one only says a next page exists."""
        if len(fetched) > limit:
            kept = fetched[:limit]
            return cls(kept, encode_cursor(cursor_after(kept[-1])))
        return cls(fetched, None)

    def as_json(self, items: list[Any]) -> dict[str, Any]:
        return {"items": items, "next": self.next_cursor}
