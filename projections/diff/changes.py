"""Field-level changes between two snapshots of a ticket, and their inverse.

Values are JSON values as parsed (dict, list, str, int, float, bool, None).

Equality (``json_equal``): ``[]`` and ``{}`` are the same value, and ``1`` equals ``1.0``; a
boolean only equals a boolean, so ``true`` differs from ``1``. Objects compare by keys,
lists by position.

``diff(old, new)`` lists changes in document order:

- Objects: keys of ``new`` in its order (``add`` with the whole value for a new key, or the
  changes inside a kept one), then keys only in ``old``, in its order (``remove``). A kept
  key whose values are not both containers gets one ``replace`` when they are not equal.
- An empty container takes the shape of the other side: ``[]`` against an object is an
  empty object, ``{}`` against an id-keyed list is an empty list.
- An id-keyed list is a list whose items are all objects with an ``id`` that is an integer or
  a string (never a boolean), all ids distinct. Between two of them, items of ``new`` in its
  order (``add`` at ``salePeriods[id=7]`` with the whole item, or the changes inside an item
  found on both sides), then vanished items in ``old``'s order (``remove``), then at most one
  order change (below).
- Any other pair of lists (or a list against a non-empty object) is compared whole: one
  ``replace`` at the list's path with both whole values.

Order change: adding or removing an item is not a re-ordering. Only when the ids found in
both lists come in another relative order (items moved) does one more change follow the item
changes: ``replace`` at the list's own path whose ``old`` and ``new`` are the full id
sequences of the two lists, e.g. ``[70127, 70128] -> [70128, 70127]``. It is told apart
from a whole-list ``replace`` by the list at that path: an order change's ``old`` holds ids
while that list holds objects, whereas a whole-list ``replace`` carries the list itself.

``add`` has ``old: None``, ``remove`` has ``new: None``. ``diff(None, new)`` is ``[]``: a
first version has no changes. ``apply_changes(old, diff(old, new))`` is ``json_equal`` to
``new``, except where an item was added to an id-keyed list with no order change: adds carry
no position, so it is appended after the items already there. Neither function copies deeper
than it must: changes and results share unchanged sub-values with the snapshots they came
from, so treat them all as read-only. The path syntax is described in
``projections.diff.paths``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any, Literal, TypedDict

from projections.diff.paths import Step, join_id, join_key, parse_path, touches
from service import json_codec

__all__ = ["Change", "apply_changes", "diff", "json_equal", "parse_path", "touches"]


class Change(TypedDict):
    path: str
    op: Literal["add", "remove", "replace"]
    old: Any
    new: Any


_SCALAR_TYPES = (str, int, float, bool, type(None))
_NUMBER_TYPES = (int, float)
_CONTAINER_TYPES = (dict, list)
_EMPTY_OBJECT: Mapping[str, Any] = {}
_MISSING = object()


def json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        if isinstance(b, dict):
            return len(a) == len(b) and all(
                json_equal(value, b.get(key, _MISSING)) for key, value in a.items()
            )
        return not a and isinstance(b, list) and not b
    if isinstance(a, list):
        if isinstance(b, list):
            return len(a) == len(b) and all(map(json_equal, a, b))
        return not a and isinstance(b, dict) and not b
    # Exact types: Python's True == 1 must not leak into JSON equality.
    type_a, type_b = type(a), type(b)
    if type_a in _NUMBER_TYPES and type_b in _NUMBER_TYPES:
        return bool(a == b)
    return type_a is type_b and bool(a == b)


def diff(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[Change]:
    if old is None:
        return []
    changes: list[Change] = []
    _diff_objects("", old, new, changes)
    return changes


def _diff_objects(
    path: str, old: Mapping[str, Any], new: Mapping[str, Any], out: list[Change]
) -> None:
    for key, new_value in new.items():
        old_value = old.get(key, _MISSING)
        if old_value is _MISSING:
            out.append({"path": join_key(path, key), "op": "add", "old": None, "new": new_value})
            continue
        # Most fields are unchanged: skip them before building their path.
        kind = type(new_value)
        if kind is type(old_value) and (
            new_value == old_value
            if kind in _SCALAR_TYPES
            else kind in _CONTAINER_TYPES and _same_json(old_value, new_value)
        ):
            continue
        _diff_values(join_key(path, key), old_value, new_value, out)
    for key, old_value in old.items():
        if key not in new:
            out.append({"path": join_key(path, key), "op": "remove", "old": old_value, "new": None})


def _same_json(old: Any, new: Any) -> bool:
    """Whether two containers are the same JSON text, so that diffing them finds nothing.

    Python's `==` runs in C and rules most pairs out, but it takes `true` for `1`; the two
    encodings, compared when `==` holds, tell those apart. A pair that differs only where
    JSON equality is looser than the text (`1` and `1.0`, `[]` and `{}`, keys in another
    order) is left to the field-by-field diff, which finds no change either.
    """
    return bool(old == new) and json_codec.dumps(old) == json_codec.dumps(new)


def _diff_values(path: str, old: Any, new: Any, out: list[Change]) -> None:
    if isinstance(old, dict | list) and isinstance(new, dict | list):
        old_object, new_object = _as_object(old), _as_object(new)
        if old_object is not None and new_object is not None:
            _diff_objects(path, old_object, new_object, out)
            return
        old_items, new_items = _id_index(old), _id_index(new)
        if old_items is not None and new_items is not None:
            _diff_id_lists(path, old_items, new_items, out)
            return
    if not json_equal(old, new):
        out.append({"path": path, "op": "replace", "old": old, "new": new})


def _as_object(value: dict[str, Any] | list[Any]) -> Mapping[str, Any] | None:
    if isinstance(value, dict):
        return value
    return None if value else _EMPTY_OBJECT


def _id_index(value: dict[str, Any] | list[Any]) -> dict[int | str, dict[str, Any]] | None:
    """The items of an id-keyed list by id, or None when ``value`` is not one."""
    if isinstance(value, dict):
        return None if value else {}
    index: dict[int | str, dict[str, Any]] = {}
    for item in value:
        if not isinstance(item, dict):
            return None
        item_id = item.get("id")
        if (type(item_id) is not int and type(item_id) is not str) or item_id in index:
            return None
        index[item_id] = item
    return index


def _diff_id_lists(
    path: str,
    old: dict[int | str, dict[str, Any]],
    new: dict[int | str, dict[str, Any]],
    out: list[Change],
) -> None:
    for item_id, new_item in new.items():
        old_item = old.get(item_id)
        if old_item is None:
            out.append({"path": join_id(path, item_id), "op": "add", "old": None, "new": new_item})
        else:
            _diff_objects(join_id(path, item_id), old_item, new_item, out)
    for item_id, old_item in old.items():
        if item_id not in new:
            out.append(
                {"path": join_id(path, item_id), "op": "remove", "old": old_item, "new": None}
            )
    kept_in_old_order = [item_id for item_id in old if item_id in new]
    kept_in_new_order = [item_id for item_id in new if item_id in old]
    if kept_in_old_order != kept_in_new_order:
        out.append({"path": path, "op": "replace", "old": list(old), "new": list(new)})


def apply_changes(old: Mapping[str, Any], changes: Sequence[Change]) -> dict[str, Any]:
    """``old`` with ``changes`` applied in their order; ``old`` itself is left untouched.

    Raises KeyError or ValueError when a change does not fit the document."""
    root = dict(old)
    # Containers copied during this call (by id, kept alive here) may be written in place;
    # any other container is shared with the input and is copied before its first write.
    owned: dict[int, Any] = {id(root): root}
    for change in changes:
        steps = parse_path(change["path"])
        if not steps:
            raise ValueError("a change cannot replace the whole document")
        container: Any = root
        for step, next_step in pairwise(steps):
            container = _writable_child(container, step, isinstance(next_step, str), owned)
        _apply_last_step(container, steps[-1], change)
    return root


def _writable_child(container: Any, step: Step, wants_object: bool, owned: dict[int, Any]) -> Any:
    slot = step if isinstance(step, str) else _item_position(container, step[1])
    child = container[slot]
    if isinstance(child, dict if wants_object else list):
        if id(child) in owned:
            return child
        copy = dict(child) if wants_object else list(child)
    elif isinstance(child, dict | list) and not child:
        copy = {} if wants_object else []
    else:
        raise ValueError(f"cannot apply a change inside {child!r}")
    owned[id(copy)] = copy
    container[slot] = copy
    return copy


def _apply_last_step(container: Any, step: Step, change: Change) -> None:
    op = change["op"]
    if isinstance(step, str):
        if op == "remove":
            del container[step]
        elif op == "replace" and _is_order_change(container.get(step), change["old"]):
            container[step] = _reordered(container[step], change["new"])
        else:
            container[step] = change["new"]
    elif op == "add":
        container.append(change["new"])
    elif op == "remove":
        del container[_item_position(container, step[1])]
    else:
        container[_item_position(container, step[1])] = change["new"]


def _item_position(items: list[Any], item_id: int | str) -> int:
    for position, item in enumerate(items):
        if isinstance(item, dict):
            candidate = item.get("id")
            if type(candidate) is type(item_id) and candidate == item_id:
                return position
    raise KeyError(f"no item with id {item_id!r}")


def _is_order_change(current: Any, old: Any) -> bool:
    # A whole-list replace carries the list itself (items are objects), an order change ids.
    return (
        isinstance(current, list)
        and bool(current)
        and isinstance(current[0], dict)
        and isinstance(old, list)
        and bool(old)
        and not isinstance(old[0], dict)
    )


def _reordered(items: list[dict[str, Any]], order: list[int | str]) -> list[dict[str, Any]]:
    if len(order) != len(items):
        raise ValueError("an order change must name every item of the list")
    by_id = {item["id"]: item for item in items}
    return [by_id[item_id] for item_id in order]
