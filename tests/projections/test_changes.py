from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.diff.changes import Change, apply_changes, diff, json_equal, parse_path, touches
from projections.diff.paths import Step, format_path
from tests.helpers import FIXTURES
from tests.projections.helpers import as_applied


def load_snapshot(name: str) -> dict[str, Any]:
    snapshot: dict[str, Any] = json.loads((FIXTURES / name).read_text())["data"]
    return snapshot


def replace(path: str, old: Any, new: Any) -> Change:
    return {"path": path, "op": "replace", "old": old, "new": new}


def test_ticket_fixture_changes() -> None:
    ticket = load_snapshot("ticket-408218.json")
    old = copy.deepcopy(ticket)
    gone_period = {**old["salePeriods"][0], "id": 69999, "available": False}
    old["salePeriods"].append(gone_period)
    old["attributes"] = []
    new = copy.deepcopy(ticket)
    new["value"]["price"] = 12
    new["salePeriods"][0]["finish"] = "2020-10-30T10:20:00-03:00"
    added_period = {**new["salePeriods"][0], "id": 70128, "start": "2020-10-30T10:20:00-03:00"}
    new["salePeriods"].append(added_period)
    new["attributes"] = {}
    new["quantity"] = 100.0
    new["hidden"] = True
    new["triggers"]["soldout"] = [346869]

    changes = diff(old, new)

    assert changes == [
        replace(
            "salePeriods[id=70127].finish",
            "2020-10-20T10:20:00-03:00",
            "2020-10-30T10:20:00-03:00",
        ),
        {"path": "salePeriods[id=70128]", "op": "add", "old": None, "new": added_period},
        {"path": "salePeriods[id=69999]", "op": "remove", "old": gone_period, "new": None},
        replace("hidden", False, True),
        replace("value.price", 10, 12),
        replace("triggers.soldout", [], [346869]),
    ]
    assert json_equal(apply_changes(old, changes), new)


def test_group_children_are_matched_by_id() -> None:
    old = load_snapshot("group-346868.json")
    new = copy.deepcopy(old)
    new["children"][1]["value"]["price"] = 2
    new["children"][0]["attributes"] = {"maximum": 4}

    assert diff(old, new) == [
        {"path": "children[id=408218].attributes.maximum", "op": "add", "old": None, "new": 4},
        replace("children[id=346869].value.price", 1, 2),
    ]


def test_first_version_has_no_changes() -> None:
    assert diff(None, load_snapshot("ticket-408218.json")) == []


def test_booleans_are_not_numbers() -> None:
    assert diff({"hidden": True}, {"hidden": 1}) == [replace("hidden", True, 1)]
    assert diff({"hidden": 0}, {"hidden": False}) == [replace("hidden", 0, False)]
    assert diff({"x": [True]}, {"x": [1]}) == [replace("x", [True], [1])]
    # Inside containers Python's `==` takes one for the other: the diff must not.
    nested_old = {"value": {"feeSale": 1, "split": [{"id": 7, "on": True}]}}
    nested_new = {"value": {"feeSale": True, "split": [{"id": 7, "on": 1}]}}
    assert diff(nested_old, nested_new) == [
        replace("value.feeSale", 1, True),
        replace("value.split[id=7].on", True, 1),
    ]
    assert not json_equal(True, 1)
    assert not json_equal(1.0, True)


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        (1, 1.0, True),
        ([], {}, True),
        ({"a": [1, {}]}, {"a": [1.0, []]}, True),
        ([], [{}], False),
        ({}, {"a": None}, False),
        (None, [], False),
        ("1", 1, False),
        ([1, 2], [2, 1], False),
    ],
)
def test_json_equal(a: Any, b: Any, equal: bool) -> None:
    assert json_equal(a, b) is equal
    assert json_equal(b, a) is equal


def test_empty_list_stands_for_an_empty_object_or_id_list() -> None:
    assert diff({"a": []}, {"a": {"x": 1}}) == [{"path": "a.x", "op": "add", "old": None, "new": 1}]
    assert diff({"a": {"x": 1}}, {"a": []}) == [
        {"path": "a.x", "op": "remove", "old": 1, "new": None}
    ]
    assert diff({"a": {}}, {"a": [{"id": 1}]}) == [
        {"path": "a[id=1]", "op": "add", "old": None, "new": {"id": 1}}
    ]
    assert diff({"a": {}}, {"a": [1]}) == [replace("a", {}, [1])]


def test_string_and_integer_ids_are_different_items() -> None:
    assert diff({"l": [{"id": 7}]}, {"l": [{"id": "7"}]}) == [
        {"path": 'l[id="7"]', "op": "add", "old": None, "new": {"id": "7"}},
        {"path": "l[id=7]", "op": "remove", "old": {"id": 7}, "new": None},
    ]


def test_lists_without_usable_ids_are_compared_whole() -> None:
    for old_items, new_items in [
        ([{"id": 1}, {"id": 1}], [{"id": 1}, {"id": 2}]),
        ([{"id": True}], [{"id": False}]),
        ([{"id": 1}, 2], [{"id": 1}, 3]),
        ([{"name": "a"}], [{"name": "b"}]),
    ]:
        assert diff({"l": old_items}, {"l": new_items}) == [replace("l", old_items, new_items)]


def test_reordered_items_give_one_order_change_after_the_item_changes() -> None:
    old = {"p": [{"id": 1, "v": "a"}, {"id": 2}, {"id": 3}]}
    new = {"p": [{"id": 3}, {"id": 1, "v": "b"}, {"id": 2}]}

    changes = diff(old, new)

    assert changes == [replace("p[id=1].v", "a", "b"), replace("p", [1, 2, 3], [3, 1, 2])]
    assert apply_changes(old, changes) == new


def test_adding_or_removing_items_is_not_a_reordering() -> None:
    old = {"p": [{"id": 1}, {"id": 2}]}
    appended = {"p": [{"id": 2}, {"id": 3}]}
    inserted = {"p": [{"id": 3}, {"id": 2}]}
    moved = {"p": [{"id": 2}, {"id": 3}, {"id": 1}]}

    assert diff(old, appended) == [
        {"path": "p[id=3]", "op": "add", "old": None, "new": {"id": 3}},
        {"path": "p[id=1]", "op": "remove", "old": {"id": 1}, "new": None},
    ]
    assert diff(old, inserted) == diff(old, appended)
    assert apply_changes(old, diff(old, inserted)) == appended
    assert diff(old, moved) == [
        {"path": "p[id=3]", "op": "add", "old": None, "new": {"id": 3}},
        replace("p", [1, 2], [2, 3, 1]),
    ]
    assert apply_changes(old, diff(old, moved)) == moved


@settings(max_examples=300)
@given(st.data())
def test_an_order_change_only_when_kept_ids_change_their_order(data: st.DataObject) -> None:
    old_ids = data.draw(st.permutations(range(8)))[: data.draw(st.integers(0, 8))]
    new_ids = data.draw(st.permutations(range(8)))[: data.draw(st.integers(0, 8))]
    old = {"p": [{"id": item_id} for item_id in old_ids]}
    new = {"p": [{"id": item_id} for item_id in new_ids]}

    changes = diff(old, new)

    moved = [i for i in old_ids if i in new_ids] != [i for i in new_ids if i in old_ids]
    order_changes = [change for change in changes if change["path"] == "p"]
    assert order_changes == ([replace("p", old_ids, new_ids)] if moved else [])
    assert sorted(change["path"] for change in changes if change["op"] == "add") == sorted(
        f"p[id={i}]" for i in new_ids if i not in old_ids
    )
    assert sorted(change["path"] for change in changes if change["op"] == "remove") == sorted(
        f"p[id={i}]" for i in old_ids if i not in new_ids
    )
    assert json_equal(apply_changes(old, changes), as_applied(old, new))


def test_whole_list_replace_of_an_id_list_is_not_taken_for_an_order_change() -> None:
    old = {"p": [{"id": 1}, {"id": 2}]}
    new = {"p": [2, 1]}

    assert diff(old, new) == [replace("p", old["p"], [2, 1])]
    assert apply_changes(old, diff(old, new)) == new


def test_weird_keys_are_bracket_quoted() -> None:
    old = {"a.b": {"[x]": 1}, "": 1, 'q"': 1}
    new = {"a.b": {"[x]": 2}, "": 2, 'q"': 2}

    changes = diff(old, new)

    assert [change["path"] for change in changes] == ['["a.b"]["[x]"]', '[""]', 'q"']
    assert apply_changes(old, changes) == new


def test_apply_leaves_its_input_untouched() -> None:
    old = load_snapshot("group-346868.json")
    before = copy.deepcopy(old)
    new = copy.deepcopy(old)
    new["children"][0]["salePeriods"][0]["available"] = False
    new["children"].reverse()

    assert json_equal(apply_changes(old, diff(old, new)), new)
    assert old == before


@pytest.mark.parametrize(
    ("path", "steps"),
    [
        ("value.price", ["value", "price"]),
        ("salePeriods[id=70127].finish", ["salePeriods", ("id", 70127), "finish"]),
        ('salePeriods[id="70127"]', ["salePeriods", ("id", "70127")]),
        ('["weird.key"]', ["weird.key"]),
        ('a["b.c"]["[d]"].e', ["a", "b.c", "[d]", "e"]),
        ('l[id="a]\\"b"][""]', ["l", ("id", 'a]"b'), ""]),
        ('x.y"z=1', ["x", 'y"z=1']),
    ],
)
def test_parse_path(path: str, steps: list[Step]) -> None:
    assert parse_path(path) == steps
    assert format_path(steps) == path


def test_parse_path_accepts_quoted_plain_keys() -> None:
    assert parse_path('["value"].price') == ["value", "price"]


@pytest.mark.parametrize(
    "path",
    [".a", "a.", "a..b", "a]", "a[", "a[x]", "a[id=]", "a[id=1.5]", "a[id=true]", 'a["b"', "a[1]"],
)
def test_parse_path_rejects_bad_syntax(path: str) -> None:
    with pytest.raises(ValueError, match=r"at \d+ in"):
        parse_path(path)


@pytest.mark.parametrize(
    ("change_path", "path_filter", "expected"),
    [
        ("value.price", "value", True),
        ("value", "value.price", True),
        ("value.price", "value.price", True),
        ("salePeriods[id=1].finish", "salePeriods", True),
        ("salePeriods[id=1].finish", "salePeriods[id=1]", True),
        ("salePeriods", "salePeriods[id=1].finish", True),
        ("salePeriods[id=1].finish", "salePeriods[id=2]", False),
        ("salePeriods[id=1]", 'salePeriods[id="1"]', False),
        ("valueX.price", "value", False),
        ("value", "valueX", False),
        ("hidden", "value", False),
        ('["a.b"].c', '["a.b"]', True),
        ('["a.b"].c', "a", False),
        ("value.price", '["value"]', True),
        ("hidden", "", True),
    ],
)
def test_touches(change_path: str, path_filter: str, expected: bool) -> None:
    assert touches(change_path, path_filter) is expected


def test_touches_rejects_a_bad_filter() -> None:
    with pytest.raises(ValueError, match="bad bracket"):
        touches("value", "value[")


keys = st.sampled_from(["a", "b", "id", "x.y", "[z]", "", 'q"']) | st.text(max_size=3)
ids = st.sampled_from([1, 2, 3, 4, "1", "2"]) | st.integers() | st.text(max_size=2)
scalars = (
    st.none()
    | st.booleans()
    | st.sampled_from([0, 1, 0.0, 1.0, True, False])
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=3)
)


def id_lists(children: st.SearchStrategy[Any]) -> st.SearchStrategy[list[dict[str, Any]]]:
    items = st.builds(
        lambda item_id, fields: {**fields, "id": item_id},
        ids,
        st.dictionaries(keys, children, max_size=3),
    )
    return st.lists(items, max_size=5, unique_by=lambda item: item["id"])


def with_containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return (
        st.lists(children, max_size=3)
        | st.dictionaries(keys, children, max_size=4)
        | id_lists(children)
    )


values = st.recursive(scalars, with_containers, max_leaves=12)
# Sale periods are the id-keyed list that matters most: make sure documents often hold one.
documents = st.builds(
    lambda fields, periods: {**fields, **periods},
    st.dictionaries(keys, values, max_size=5),
    st.fixed_dictionaries({}, optional={"salePeriods": id_lists(values)}),
)


def equivalent(value: Any) -> Any:
    """A value ``json_equal`` to ``value`` but spelled differently where JSON allows it."""
    if isinstance(value, dict):
        # Ids stay as they are: a float id would turn an id-keyed list into a plain one.
        return {key: item if key == "id" else equivalent(item) for key, item in value.items()} or []
    if isinstance(value, list):
        return [equivalent(item) for item in value] or {}
    if type(value) is int and abs(value) < 2**53:
        return float(value)
    return value


def mutate(draw: st.DrawFn, value: Any) -> Any:
    """A value near ``value``, so that diffs recurse instead of replacing everything."""
    action = draw(st.sampled_from(["keep", "fresh", "equivalent", "inside", "inside", "inside"]))
    if action == "keep":
        return value
    if action == "fresh":
        return draw(values)
    if action == "equivalent":
        return equivalent(value)
    return mutate_inside(draw, value)


def mutate_inside(draw: st.DrawFn, value: Any) -> Any:
    if isinstance(value, dict):
        # Ids stay, so that items of id-keyed lists keep matching and get diffed inside.
        kept = {
            key: item if key == "id" else mutate(draw, item)
            for key, item in value.items()
            if key == "id" or draw(st.integers(0, 3))
        }
        return {**draw(st.dictionaries(keys, values, max_size=2)), **kept}
    if isinstance(value, list):
        items = [mutate(draw, item) for item in value if draw(st.integers(0, 3))]
        items += draw(st.lists(values, max_size=2))
        return draw(st.permutations(items))
    return draw(values)


@st.composite
def related_documents(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    old = draw(documents)
    new: dict[str, Any] = mutate_inside(draw, old)
    return old, new


document_pairs = st.tuples(documents, documents) | related_documents()


@settings(max_examples=300)
@given(document_pairs)
def test_applying_a_diff_gives_the_new_document(
    pair: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    old, new = pair
    before = copy.deepcopy(old)

    changes = diff(old, new)

    assert json_equal(apply_changes(old, changes), as_applied(old, new))
    assert (changes == []) is json_equal(old, new)
    assert old == before
    for change in changes:
        assert format_path(parse_path(change["path"])) == change["path"]
        assert touches(change["path"], change["path"])


@given(documents)
def test_a_document_has_no_changes_against_itself(document: dict[str, Any]) -> None:
    assert diff(document, document) == []
    assert diff(document, copy.deepcopy(document)) == []


steps = st.lists(keys | st.tuples(st.just("id"), ids), max_size=5)


@given(steps)
def test_paths_round_trip(path_steps: list[Step]) -> None:
    assert parse_path(format_path(path_steps)) == path_steps
