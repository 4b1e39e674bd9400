"""Query answers as plain values: the queries hand stored JSON on as `orjson.Fragment`s, which
an API answer copies as they are and a template has to read."""

from __future__ import annotations

from typing import Any

import orjson

from service import json_codec


def plain(answer: Any) -> Any:
    return json_codec.loads(orjson.dumps(answer))
