"""Query answers as plain values: the queries hand stored JSON on as `orjson.Fragment`s, which
an API answer copies as they are and a template has to read."""

from __future__ import annotations

from typing import Any

import orjson

from projections import jsonio


def plain(answer: Any) -> Any:
    return jsonio.load(orjson.dumps(answer).decode())
