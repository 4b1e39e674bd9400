"""The deliveries every measurement sends: real changes, never duplicates, in source-time order.

Delivery `index` goes to ticket `index % pool` and carries `quantity = index`, so no two
deliveries share their data and each one is a new version of its ticket. Callers keep the
indices they use apart (seeding, then each load) so that nothing is ever a duplicate.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from service import intake
from service.domain import DeliveryFacts
from service.payload import parse_delivery

FIRST_TICKET_ID = 5_000_000
FIRST_EVENT_ID = 90_000
TICKETS_PER_EVENT = 100
FIRST_SOURCE_TIME = datetime(2024, 1, 1, tzinfo=UTC)


class IndexRange:
    """Hands out delivery indices that no earlier load used, so nothing is a duplicate."""

    def __init__(self, first: int = 0) -> None:
        self.next = first

    def take(self, count: int) -> int:
        first, self.next = self.next, self.next + count
        return first


def ticket_id_of(index: int, pool: int) -> int:
    return FIRST_TICKET_ID + index % pool


def event_id_of(ticket_id: int) -> int:
    return FIRST_EVENT_ID + (ticket_id - FIRST_TICKET_ID) // TICKETS_PER_EVENT


def source_time_of(index: int) -> datetime:
    return FIRST_SOURCE_TIME + timedelta(seconds=index)


def delivery_body(index: int, pool: int) -> bytes:
    ticket_id = ticket_id_of(index, pool)
    round_ = index // pool
    data: dict[str, Any] = {
        "id": ticket_id,
        "name": f"Ingresso - Pista {ticket_id}",
        "description": "",
        "eventId": event_id_of(ticket_id),
        "type": "Ticket",
        "eventDates": [{"id": 38363, "datetime": "2025-10-10T10:00:00-03:00"}],
        "attributes": {"maximum": 0, "minimum": 0, "canArchive": True, "external": False},
        "quantity": index,
        "parent": FIRST_TICKET_ID - 1 - ticket_id % 50,
        "children": [],
        # Now and then a sale period closes and reopens, so its timeline has several states.
        "salePeriods": [
            {
                "id": ticket_id * 10,
                "appCategoryId": 1,
                "start": "2025-09-01T10:00:00-03:00",
                "finish": "2025-10-10T09:00:00-03:00",
                "available": round_ % 5 != 4,
            }
        ],
        "hidden": False,
        "available": True,
        "order": 1,
        "value": {"price": 10 + round_ % 3, "finalPrice": 11, "feeSale": 1, "feeProducer": 0},
        "triggers": {"soldout": [], "start": []},
        "archived": False,
        "customTax": False,
        "salable": True,
        "quantityDiff": -1 if round_ else 0,
    }
    timestamp = source_time_of(index).replace(tzinfo=None).isoformat(timespec="microseconds")
    return orjson.dumps({"webhook": "ticket", "data": data, "timestamp": timestamp})


def delivery_facts(body: bytes) -> DeliveryFacts:
    """What the intake makes of a valid body, without HTTP."""
    return intake.delivery_facts(parse_delivery(body), body, UTC)
