"""Canonical form of ticket data, so that equal JSON values hash equal.

The contract calls two deliveries' `data` equal when they differ only in key order,
`1` vs `1.0`, or `[]` vs `{}` (Ingresse sends `attributes` either way).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import orjson


def canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: canonical(item) for key, item in value.items()} if value else {}
    if isinstance(value, list):
        return [canonical(item) for item in value] if value else {}
    if isinstance(value, float) and value.is_integer():
        # Keep bools apart: they are ints in Python but not numbers in JSON.
        return int(value)
    return value


def data_hash(data: dict[str, Any]) -> str:
    normalised = canonical(data)
    try:
        encoded = orjson.dumps(normalised, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        # orjson refuses ints beyond 64 bits, which free-form fields may carry. Equal values
        # hold the same ints, so they always take the same encoder and still hash equal.
        encoded = json.dumps(
            normalised, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    return hashlib.sha256(encoded).hexdigest()


def delivery_id(raw_body: bytes) -> str:
    return hashlib.sha256(raw_body).hexdigest()
