"""Canonical form of ticket data, so that equal JSON values hash equal.

The contract calls two deliveries' `data` equal when they differ only in key order,
`1` vs `1.0`, or `[]` vs `{}` (Ingresse sends `attributes` either way).
"""

from __future__ import annotations

import hashlib
from typing import Any

from service import json_codec

# Values a JSON decoder gives that canonical form keeps as they are. Exact types, not
# isinstance: decoders make no subclasses, and bools must never pass for numbers.
_KEPT_AS_IS = frozenset({str, int, bool, type(None)})


def canonical(value: Any) -> Any:
    # Runs on every delivery: leaves are kept without a call of their own.
    kind = type(value)
    if kind is dict:
        if not value:
            return {}
        return {
            key: item if type(item) in _KEPT_AS_IS else canonical(item)
            for key, item in value.items()
        }
    if kind is list:
        if not value:
            return {}
        return [item if type(item) in _KEPT_AS_IS else canonical(item) for item in value]
    if kind is float and value.is_integer():
        return int(value)
    return value


def data_hash(data: dict[str, Any]) -> str:
    return hashlib.sha256(json_codec.dumps(canonical(data), sort_keys=True)).hexdigest()


def delivery_id(raw_body: bytes) -> str:
    return hashlib.sha256(raw_body).hexdigest()


def content_id(timestamp: str, data_hash: str) -> str:
    """What a delivery says, whatever its bytes: its `timestamp` and its canonical `data`.
    Two deliveries with the same content are one delivery sent twice (a retry)."""
    return hashlib.sha256(json_codec.dumps([timestamp, data_hash])).hexdigest()
