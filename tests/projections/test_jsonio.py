"""Projection columns keep every JSON value exactly, big integers included."""

from __future__ import annotations

from projections import jsonio


def test_integers_beyond_64_bits_round_trip_exactly() -> None:
    value = {"n": 123456789012345678901234567890, "m": -(2**70), "x": 1.5}

    loaded = jsonio.load(jsonio.dump(value))

    assert loaded == value
    assert isinstance(loaded["n"], int)


def test_ordinary_values_round_trip() -> None:
    value = {"a": [1, 2.5, None, True, "ç"], "b": {}}

    assert jsonio.load(jsonio.dump(value)) == value
