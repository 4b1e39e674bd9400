"""The intake's fast check (`plainly_valid`) never changes what the model answers.

It may only say yes to documents the model accepts; whatever it turns away, the model
judges. So `delivery_errors`, which asks it first, answers exactly as the model alone does.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.deliveries import delivery_body
from service.delivery_model import (
    BIGINT_MAX,
    BIGINT_MIN,
    delivery_errors,
    model_errors,
    plainly_valid,
)
from tests.service.test_payload import CHECKED_FIELDS, FIXTURE_NAMES, fixture_document

# The checked fields, one that is free-form and one that is not named at all.
DATA_FIELDS = [*CHECKED_FIELDS, "attributes", "name"]
ITEM_FIELDS = ["id", "eventId", "parent", "start"]
ABSENT = object()


# The values JSON can carry, weighted toward the edges the checks care about.
edge_integers = st.sampled_from(
    [0, 1, -1, BIGINT_MAX, BIGINT_MIN, BIGINT_MAX + 1, BIGINT_MIN - 1, 10**30]
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    edge_integers,
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([3.0, -0.0, 1e20, 2.5]),
    st.text(max_size=8),
    st.sampled_from(["2018-04-02T13:57:04", "2018-04-02", "yesterday", ""]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from([*ITEM_FIELDS, "price", "x"]), inner, max_size=4),
    ),
    max_leaves=8,
)


@st.composite
def altered_deliveries(draw: st.DrawFn) -> dict[str, Any]:
    """A real delivery with some fields (top level, data, list items) replaced or dropped."""
    document = copy.deepcopy(fixture_document(draw(st.sampled_from(FIXTURE_NAMES))))
    replacement = st.one_of(st.just(ABSENT), json_values)
    for name in draw(st.lists(st.sampled_from(["webhook", "timestamp", "data"]), max_size=2)):
        _put(document, name, draw(replacement))
    data = document.get("data")
    if type(data) is dict:
        for name in draw(st.lists(st.sampled_from(DATA_FIELDS), max_size=4)):
            _put(data, name, draw(replacement))
        for name in ("salePeriods", "children", "eventDates"):
            items = data.get(name)
            if type(items) is list and items and type(items[0]) is dict:
                for field in draw(st.lists(st.sampled_from(ITEM_FIELDS), max_size=2)):
                    _put(items[0], field, draw(replacement))
        amounts = data.get("value")
        if type(amounts) is dict and amounts and draw(st.booleans()):
            amounts[next(iter(amounts))] = draw(json_values)
    return document


def _put(container: dict[str, Any], name: str, value: object) -> None:
    if value is ABSENT:
        container.pop(name, None)
    else:
        container[name] = value


@settings(max_examples=600, deadline=None)
@given(altered_deliveries())
def test_the_fast_check_says_yes_only_to_what_the_model_accepts(document: dict[str, Any]) -> None:
    if plainly_valid(document):
        assert model_errors(document) == []
    assert delivery_errors(document) == model_errors(document)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_real_deliveries_take_the_fast_path(name: str) -> None:
    assert plainly_valid(fixture_document(name))


def test_the_benchmarks_deliveries_take_the_fast_path() -> None:
    for index in range(0, 5000, 7):
        assert plainly_valid(orjson.loads(delivery_body(index, 1000)))


@pytest.mark.parametrize(
    "change",
    [
        {"quantity": True},
        {"quantity": 3.5},
        {"id": BIGINT_MAX + 1},
        {"eventId": None},
        {"parent": "7"},
        {"salePeriods": [{"id": False}]},
        {"children": [{"id": 1, "parent": BIGINT_MIN - 1}]},
        {"eventDates": ["2019-10-10"]},
        {"value": {"price": "10"}},
    ],
)
def test_what_the_model_refuses_the_fast_check_turns_away(change: dict[str, Any]) -> None:
    document = fixture_document("ticket-408218.json")
    document["data"].update(change)
    assert not plainly_valid(document)
    assert delivery_errors(document) == model_errors(document) != []
