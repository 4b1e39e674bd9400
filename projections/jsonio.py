"""JSON text for projection columns, fast, and safe for the big ints free-form fields may hold."""

from __future__ import annotations

import json
from typing import Any

import orjson

from service.payload import might_hold_huge_integer


def dump(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def load(text: str) -> Any:
    encoded = text.encode()
    if might_hold_huge_integer(encoded):
        # orjson would read an integer beyond 64 bits as a float and lose digits.
        return json.loads(encoded)
    return orjson.loads(encoded)
