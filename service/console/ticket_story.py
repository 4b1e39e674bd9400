"""A ticket's versions as the ticket page tells them: each placed against the "as of" times."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from service.console.chart_axes import moment


@dataclass(frozen=True)
class Version:
    item: dict[str, Any]
    after_as_of: bool
    unknown_then: bool
    shown: bool

    @property
    def outside(self) -> bool:
        return self.after_as_of or self.unknown_then


def place_versions(
    items: Sequence[dict[str, Any]],
    at: datetime | None,
    known_at: datetime | None,
    shown_version: int | None,
) -> list[Version]:
    """Marks the versions the "as of" view leaves out: later in source time than `at`, or
    received after `known_at`; and the one whose snapshot the page shows."""
    at_moment = None if at is None else at.timestamp()
    known_moment = None if known_at is None else known_at.timestamp()
    return [
        Version(
            item=item,
            after_as_of=at_moment is not None and moment(item["sourceTimestamp"]) > at_moment,
            unknown_then=known_moment is not None and moment(item["receivedAt"]) > known_moment,
            shown=item["version"] == shown_version,
        )
        for item in items
    ]


SNAPSHOT_FIELDS = (
    "name",
    "type",
    "eventId",
    "parent",
    "quantity",
    "salable",
    "available",
    "hidden",
    "archived",
)


def headline(snapshot: dict[str, Any]) -> list[tuple[str, Any]]:
    """The snapshot's best-known fields first, for the summary above the full snapshot."""
    shown = [(name, snapshot[name]) for name in SNAPSHOT_FIELDS if name in snapshot]
    value = snapshot.get("value")
    if isinstance(value, dict):
        shown += [(f"value.{name}", price) for name, price in value.items()]
    return shown
