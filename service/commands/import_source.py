"""The deliveries in a file given to `ticket-audit import`, whichever of the three shapes it has.

- One webhook JSON body per line (what a relay's dump or `jq -c` gives): each line's bytes
  are the delivery's body, as if it had been posted.
- One JSON array of bodies: each item, re-encoded compactly, is a delivery.
- One JSON object, pretty-printed or not: the whole file is one delivery.

The shape is told by the first line: if it is a JSON value other than an array on its own,
the file is one delivery per line; otherwise the file must be one JSON array or object as a
whole.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import orjson

from service.settings import SettingsError


@dataclass(frozen=True)
class Delivery:
    where: str
    """`line N` or `item N`, for reporting."""
    body: bytes


@dataclass
class ImportSource:
    deliveries: Iterator[Delivery]
    total: int | None
    """How many deliveries there are, when that is known before reading them (for the ETA)."""


def open_source(path: str) -> ImportSource:
    if path == "-":
        return _read(sys.stdin.buffer, path, total_known=False)
    try:
        # Closed by whichever reader consumes it: the deliveries are read lazily.
        source = open(path, "rb")  # noqa: SIM115
    except OSError as error:
        raise SettingsError(f"{path}: {error.strerror}") from None
    return _read(source, path, total_known=Path(path).is_file())


def _read(source: BinaryIO, path: str, total_known: bool) -> ImportSource:
    first_number, first = _first_line(source)
    if first is None:
        source.close()
        return ImportSource(iter(()), 0)
    try:
        first_value = orjson.loads(first)
    except orjson.JSONDecodeError:
        return _whole_document(source, path, first)
    if isinstance(first_value, list):
        return _whole_document(source, path, first)
    total = None
    if total_known:
        total = 1 + _count_lines(source)
        source.seek(0)
        _first_line(source)
    return ImportSource(_lines(source, first_number, first), total)


def _first_line(source: BinaryIO) -> tuple[int, bytes | None]:
    for number, line in enumerate(source, start=1):
        body = line.rstrip(b"\r\n")
        if body.strip():
            return number, body
    return 0, None


def _lines(source: BinaryIO, first_number: int, first: bytes) -> Iterator[Delivery]:
    with source:
        yield Delivery(f"line {first_number}", first)
        for number, line in enumerate(source, start=first_number + 1):
            # A line's terminator is no part of its body; a blank line is no delivery.
            body = line.rstrip(b"\r\n")
            if body.strip():
                yield Delivery(f"line {number}", body)


def _count_lines(source: BinaryIO) -> int:
    return sum(1 for line in source if line.strip())


def _whole_document(source: BinaryIO, path: str, first: bytes) -> ImportSource:
    with source:
        document = first + b"\n" + source.read()
    try:
        value = orjson.loads(document)
    except orjson.JSONDecodeError as error:
        raise SettingsError(
            f"{path} is neither one JSON delivery per line nor one JSON array or object "
            f"({error}); nothing was imported"
        ) from None
    if isinstance(value, list):
        items = [
            Delivery(f"item {number}", orjson.dumps(item))
            for number, item in enumerate(value, start=1)
        ]
        return ImportSource(iter(items), len(items))
    if isinstance(value, dict):
        return ImportSource(iter([Delivery("the document", document.strip())]), 1)
    raise SettingsError(f"{path} holds a JSON {type(value).__name__}, not deliveries")
