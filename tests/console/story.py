"""A ticket's story in deliveries: Ingresse's example ticket and group, then a week of changes
(quantity, price, sale periods, one delivery arriving late), and a ticket with a hostile name."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta
from typing import Any

from tests.helpers import FIXTURES

TICKET_ID = 408218
GROUP_ID = 346868
EVENT_ID = 24724
HOSTILE_ID = 990001
HOSTILE_NAME = "<script>alert(1)</script>"
# The versions of TICKET_ID in source-time order, as the deliveries below make them.
QUANTITIES = [100, 90, 95, 90, 70, 50]
LATE_QUANTITY = 95


def _envelope(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_bytes())
    return loaded


def _body(envelope: dict[str, Any]) -> bytes:
    return json.dumps(envelope, ensure_ascii=False).encode()


def story() -> list[bytes]:
    """The deliveries, in the order they are posted."""
    ticket = _envelope("ticket-408218")
    group = _envelope("group-346868")
    start = datetime.fromisoformat(ticket["timestamp"])
    bodies = [_body(ticket), _body(group)]

    def changed(days: int, **fields: Any) -> dict[str, Any]:
        nonlocal ticket
        ticket = copy.deepcopy(ticket)
        ticket["timestamp"] = (start + timedelta(days=days)).isoformat()
        ticket["data"].update(fields)
        return ticket

    after_first_day = changed(1, quantity=90, quantityDiff=-10)
    bodies.append(_body(after_first_day))
    price = {**ticket["data"]["value"], "price": 12, "finalPrice": 13.2}
    bodies.append(_body(changed(3, value=price)))
    periods = [
        {**ticket["data"]["salePeriods"][0], "finish": "2020-10-25T10:20:00-03:00"},
        {
            "id": 70128,
            "appCategoryId": 1,
            "start": "2020-10-26T10:00:00-03:00",
            "finish": "2020-11-05T23:59:00-03:00",
            "available": False,
        },
    ]
    bodies.append(_body(changed(5, quantity=70, quantityDiff=-20, salePeriods=periods)))
    # Sent on the second day, received only now: it lands between the first and third days.
    late = copy.deepcopy(after_first_day)
    late["timestamp"] = (start + timedelta(days=2)).isoformat()
    late["data"].update(quantity=LATE_QUANTITY, quantityDiff=5)
    bodies.append(_body(late))
    bodies.append(_body(changed(7, quantity=50, salable=False, salePeriods=[periods[1]])))
    hostile = copy.deepcopy(_envelope("ticket-408218"))
    hostile["data"].update(
        id=HOSTILE_ID, name=HOSTILE_NAME, parent=None, description="<img src=x onerror=alert(2)>"
    )
    bodies.append(_body(hostile))
    return bodies
