"""How values from deliveries read on a page: compact JSON, readable change paths."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Any

from markupsafe import Markup, escape

from service import json_codec

LONG_VALUE = 160
_ID_STEP = re.compile(r"(\[id=[^\]]*\])")


def json_text(value: Any) -> str:
    """A value as JSON text, as the API writes it (strings quoted, `null` for nothing)."""
    return json_codec.dump_text(value)


def short_json(value: Any) -> str:
    text = json_codec.dump_text(value)
    return text if len(text) <= LONG_VALUE else text[: LONG_VALUE - 1] + "…"


def as_text(value: Any) -> str:
    """A string as it reads; any other value as short JSON (a name may be a number or null)."""
    return value if isinstance(value, str) else short_json(value)


def change_path(path: str) -> Markup:
    """`salePeriods[id=70127].finish` with its id steps marked and break points after dots."""
    parts = _ID_STEP.split(path)
    out = Markup("")
    for index, part in enumerate(parts):
        if index % 2:
            out += Markup('<span class="id-step">{}</span>').format(part)
        else:
            out += Markup(".<wbr>").join(escape(piece) for piece in part.split("."))
    return out


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def local_input(moment: datetime | None, zone: tzinfo) -> str:
    """A time as a `datetime-local` field shows it, in `zone`."""
    return "" if moment is None else moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S")


def yes_no(value: Any) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return "—" if value is None else json_codec.dump_text(value)


FILTERS: dict[str, Callable[..., Any]] = {
    "json": json_text,
    "short_json": short_json,
    "as_text": as_text,
    "change_path": change_path,
    "yes_no": yes_no,
    "pretty_json": pretty_json,
    "local_input": local_input,
}
