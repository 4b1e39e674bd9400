"""Every JSON value is read and written exactly, big integers included."""

from __future__ import annotations

import orjson
import pytest

from service import json_codec


def test_integers_beyond_64_bits_round_trip_exactly() -> None:
    value = {"n": 123456789012345678901234567890, "m": -(2**70), "x": 1.5}

    loaded = json_codec.loads(json_codec.dumps(value))

    assert loaded == value
    assert isinstance(loaded["n"], int)


def test_ordinary_values_round_trip_through_text() -> None:
    value = {"a": [1, 2.5, None, True, "ç"], "b": {}}

    assert json_codec.loads(json_codec.dump_text(value)) == value


def test_sorted_keys_encode_equal_values_equal_with_or_without_huge_integers() -> None:
    assert json_codec.dumps({"b": 1, "a": 2}, sort_keys=True) == b'{"a":2,"b":1}'
    assert json_codec.dumps({"b": 2**70, "a": 2}, sort_keys=True) == (
        b'{"a":2,"b":1180591620717411303424}'
    )


@pytest.mark.parametrize(
    ("text", "huge"),
    [(b"9223372036854775807", True), (b"123456789012345678", False), (b'{"a": 1.5}', False)],
)
def test_the_huge_integer_check_never_misses_one(text: bytes, huge: bool) -> None:
    assert json_codec.might_hold_huge_integer(text) is huge
    if not huge:
        assert json_codec.loads(text) == orjson.loads(text)
