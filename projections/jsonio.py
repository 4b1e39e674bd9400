"""JSON text for projection columns, fast, and safe for the big ints free-form fields may hold."""

from __future__ import annotations

import json
from typing import Any

import orjson


def dump(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def load(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
