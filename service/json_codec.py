"""JSON that keeps every value exactly: the one codec for bodies, columns and answers.

orjson is fast but turns integers beyond 64 bits into floats (losing digits) when reading, and
refuses them when writing. Ingresse's free-form fields may hold such integers, so every place
that reads or writes delivery JSON goes through here and falls back to the standard library
only when a value needs it.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

# Nineteen digits is the shortest run that can spell an integer beyond 64 bits, so text without
# one is decoded exactly by orjson. Masking every digit to "0" and every other byte to a space
# finds such a run many times faster than a regular expression.
_DIGIT_MASK = bytes(ord("0") if byte in b"0123456789" else ord(" ") for byte in range(256))
_SHORTEST_HUGE_INTEGER = b"0" * 19


def might_hold_huge_integer(text: bytes) -> bool:
    """True when orjson could not decode `text` exactly (an integer beyond 64 bits)."""
    return _SHORTEST_HUGE_INTEGER in text.translate(_DIGIT_MASK)


def loads(text: bytes | str) -> Any:
    """Decode JSON that is known to be valid (it passed intake), integers of any size kept."""
    return decode(text)[0]


def decode(text: bytes | str) -> tuple[Any, bool]:
    """`loads`, and whether orjson decoded it: then orjson encodes every value of it back as
    it was, with no integer beyond 64 bits to refuse."""
    encoded = text.encode() if isinstance(text, str) else text
    if might_hold_huge_integer(encoded):
        return json.loads(encoded), False
    return orjson.loads(encoded), True


def dumps(value: Any, sort_keys: bool = False) -> bytes:
    """Compact UTF-8 JSON of `value`, integers of any size written exactly."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS if sort_keys else None)
    except orjson.JSONEncodeError:
        # Only values holding an integer beyond 64 bits get here; equal values hold the same
        # integers, so they always take the same encoder and encode equal.
        text = json.dumps(value, sort_keys=sort_keys, separators=(",", ":"), ensure_ascii=False)
        return text.encode()


def dump_text(value: Any) -> str:
    return dumps(value).decode()
