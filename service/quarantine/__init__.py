"""The quarantine: deliveries that passed auth but were refused (400, 413 or 422), kept for review.

It is stored apart from the event log (its own SQLite file, or its own PostgreSQL table reached
through its own small pool) so that a slow or failing quarantine never holds up appends to the log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import orjson

from service.settings import DatabaseLocation

DEFAULT_MAX_ITEMS = 10_000


class QuarantineUnavailable(Exception):
    """The quarantine's storage failed; the message names no host, path or credential."""


@dataclass(frozen=True)
class QuarantinedDelivery:
    id: int
    error: str
    detail: object
    received_at: datetime
    size: int
    body: bytes

    def summary_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "error": self.error,
            "receivedAt": self.received_at.isoformat(),
            "size": self.size,
        }

    def full_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "error": self.error,
            "detail": self.detail,
            "receivedAt": self.received_at.isoformat(),
            "size": self.size,
            # Refused bodies are often not valid UTF-8 (that may be why they were refused);
            # replacing the bad bytes still shows an operator what arrived.
            "body": self.body.decode("utf-8", errors="replace"),
        }


class QuarantineStore(Protocol):
    dropped: int
    """How many of the oldest deliveries were ever deleted to stay within the bound, as last
    read from or written to storage (it is kept there, so it survives restarts)."""

    def load_dropped(self) -> int:
        """Read the stored count into `dropped` and return it."""
        ...

    def add(self, error: str, detail: object, received_at: datetime, size: int, body: bytes) -> int:
        """Keep one refused delivery and return its id; ids only ever grow."""
        ...

    def page(self, limit: int, before_id: int | None) -> list[QuarantinedDelivery]:
        """Up to `limit` deliveries, newest first, only those with an id below `before_id`."""
        ...

    def get(self, quarantine_id: int) -> QuarantinedDelivery | None: ...

    def count(self) -> int: ...

    def close(self) -> None: ...


def open_quarantine(
    location: DatabaseLocation, max_items: int = DEFAULT_MAX_ITEMS
) -> QuarantineStore:
    """The quarantine beside the log at `location`; storage is not touched until first use."""
    if max_items < 1:
        raise ValueError("max_items must be at least 1")
    # Imported here because each backend imports this module for the shared types.
    if location.kind == "sqlite":
        from service.quarantine.sqlite import SQLiteQuarantine

        return SQLiteQuarantine(location.sibling_sqlite_path("quarantine"), max_items)
    from service.quarantine.postgres import PostgresQuarantine

    return PostgresQuarantine(location, max_items)


def as_utc(received_at: datetime) -> datetime:
    if received_at.utcoffset() is None:
        raise ValueError("received_at must be timezone-aware")
    return received_at.astimezone(UTC)


def encode_detail(detail: object) -> str:
    return orjson.dumps(detail).decode()


def decode_detail(text: str) -> object:
    decoded: object = orjson.loads(text)
    return decoded


def check_limit(limit: int) -> None:
    if limit < 1:
        raise ValueError("limit must be at least 1")
