"""Reading the sale-periods projection: one timeline per sale period of a ticket."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from projections.diff.changes import json_equal
from projections.store.reads import fetch_all
from projections.store.views import ProjectionStore
from service import json_codec

STATE_FIELDS = ("start", "finish", "available")


@dataclass
class _Timeline:
    period_id: int
    first_seen_us: int
    first_seen: str
    app_category_id: Any = None
    removed_at: str | None = None
    present: bool = True
    states: list[dict[str, Any]] = field(default_factory=list)

    def seen(self, version: int, source_iso: str, period: dict[str, Any]) -> None:
        self.app_category_id = period.get("appCategoryId")
        unchanged = bool(self.states) and all(
            json_equal(self.states[-1][name], period.get(name)) for name in STATE_FIELDS
        )
        # A period coming back after a removal gets a state even when its values are the
        # ones it left with: otherwise its return would leave no trace in the timeline.
        if self.present and unchanged:
            return
        self.states.append(
            {
                "sourceTimestamp": source_iso,
                "version": version,
                **{name: period.get(name) for name in STATE_FIELDS},
            }
        )
        self.present = True
        self.removed_at = None

    def missed(self, source_iso: str) -> None:
        if self.present:
            self.present = False
            self.removed_at = source_iso

    def as_json(self) -> dict[str, Any]:
        last = self.states[-1]
        return {
            "id": self.period_id,
            "appCategoryId": self.app_category_id,
            "current": {name: last[name] for name in STATE_FIELDS} if self.present else None,
            "firstSeen": self.first_seen,
            "removedAt": self.removed_at,
            "states": self.states,
        }


def sale_period_timelines(view: ProjectionStore, ticket_id: int) -> list[dict[str, Any]] | None:
    """Timelines ordered by first sighting, then id; None for an unknown ticket.

    A version that does not send `salePeriods` leaves every period as it was: Ingresse
    omitting the field says nothing about the periods, while an explicit `[]` removes them all.
    """
    rows = fetch_all(
        view,
        "SELECT version, source_us, source_iso, sale_periods FROM {versions} "
        "WHERE ticket_id = ? ORDER BY source_us, position",
        (ticket_id,),
    )
    if not rows:
        return None
    timelines: dict[int, _Timeline] = {}
    last_sent = None
    for version, source_us, source_iso, sale_periods in rows:
        # Versions mostly change other fields: the very list the last one sent (as stored
        # text) changes no timeline, so it is not decoded at all.
        if sale_periods is None or sale_periods == last_sent:
            continue
        last_sent = sale_periods
        # Intake guarantees objects with integer ids; a repeated id keeps its last item.
        periods = {period["id"]: period for period in json_codec.loads(sale_periods)}
        for period_id, period in periods.items():
            timeline = timelines.get(period_id)
            if timeline is None:
                timeline = _Timeline(period_id, source_us, source_iso)
                timelines[period_id] = timeline
            timeline.seen(version, source_iso, period)
        for period_id, timeline in timelines.items():
            if period_id not in periods:
                timeline.missed(source_iso)
    ordered = sorted(timelines.values(), key=lambda t: (t.first_seen_us, t.period_id))
    return [timeline.as_json() for timeline in ordered]
