"""Path syntax of changes: writing, parsing and prefix matching.

A path is a sequence of steps written one after the other:

- an object key is written as is, after a ``.`` unless it is the first step:
  ``value.price``;
- an item of an id-keyed list is written ``[id=70127]`` when its id is an integer and
  ``[id="70127"]`` (a JSON string literal) when it is a string, so the two never collide:
  ``salePeriods[id=70127].finish``;
- a key that is empty or contains ``.``, ``[``, ``]`` or U+0000 is written bracket-quoted as a
  JSON string literal, without a dot before it: ``attributes["a.b"]``, ``["[x]"].y``. The
  literal spells U+0000 as ``\\u0000``, so every path fits a PostgreSQL TEXT column.

The writer is canonical (one spelling per step sequence), so for paths it wrote, one path is
under another exactly when it extends it as a string at a step boundary. The parser also
accepts quoted spellings of plain keys (``["value"].price``).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache

IdStep = tuple[str, int | str]
"""``("id", 70127)``: an item of an id-keyed list, matched by the value of its ``id``."""

Step = str | IdStep

_PLAIN_KEY = re.compile(r"[^.\[\]]+")
_DECODER = json.JSONDecoder()


def join_key(path: str, key: str) -> str:
    if key and "." not in key and "[" not in key and "]" not in key and "\x00" not in key:
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def join_id(path: str, item_id: int | str) -> str:
    if isinstance(item_id, str):
        return f"{path}[id={json.dumps(item_id, ensure_ascii=False)}]"
    return f"{path}[id={item_id}]"


def format_path(steps: list[Step]) -> str:
    path = ""
    for step in steps:
        path = join_key(path, step) if isinstance(step, str) else join_id(path, step[1])
    return path


def parse_path(path: str) -> list[Step]:
    """Split a path into its steps; raises ValueError when it is not valid path syntax."""
    return list(_parse(path))


# Changes of one ticket keep touching the same few paths; callers get a fresh list each time.
@lru_cache(maxsize=4096)
def _parse(path: str) -> tuple[Step, ...]:
    steps: list[Step] = []
    position = 0
    while position < len(path):
        if path[position] == "[":
            step, position = _parse_bracket(path, position)
            steps.append(step)
            continue
        if steps:
            if path[position] != ".":
                raise ValueError(f"expected '.' or '[' at {position} in {path!r}")
            position += 1
        match = _PLAIN_KEY.match(path, position)
        if match is None:
            raise ValueError(f"expected a key at {position} in {path!r}")
        steps.append(match.group())
        position = match.end()
    return tuple(steps)


def _parse_bracket(path: str, start: int) -> tuple[Step, int]:
    is_id = path.startswith("id=", start + 1)
    value_start = start + 4 if is_id else start + 1
    try:
        value, end = _DECODER.raw_decode(path, value_start)
    except ValueError:
        raise ValueError(f"bad bracket step at {start} in {path!r}") from None
    if end >= len(path) or path[end] != "]":
        raise ValueError(f"expected ']' at {end} in {path!r}")
    # type(), not isinstance(): a JSON true must not pass for the integer id 1.
    if is_id and type(value) in (int, str):
        return ("id", value), end + 1
    if not is_id and type(value) is str:
        return value, end + 1
    raise ValueError(f"bad bracket step at {start} in {path!r}")


@lru_cache(maxsize=256)
def _canonical(path: str) -> str:
    return format_path(parse_path(path))


def touches(change_path: str, path_filter: str) -> bool:
    """Whether a change at ``change_path`` (as written by ``diff``) is at, under or above the
    filter: a filter keeps the changes inside it and the changes that replaced a whole value
    containing it. An empty filter is the whole document. Raises ValueError on a bad filter."""
    wanted = _canonical(path_filter)
    shorter, longer = sorted((wanted, change_path), key=len)
    if not longer.startswith(shorter):
        return False
    return not shorter or len(longer) == len(shorter) or longer[len(shorter)] in ".["
