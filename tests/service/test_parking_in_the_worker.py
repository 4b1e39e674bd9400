"""`serve`'s worker parks an event a read model cannot apply, and `serve` answers the ticket as
stale, across restarts, until a rebuild after the fix clears it.

The fault is put in the processes `serve` starts through `fault_site` on their PYTHONPATH.
"""

from __future__ import annotations

import os
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.helpers import INTAKE, delivery
from tests.projections.faults import REFUSED_BY
from tests.service.serve_process import REQUEST_TIMEOUT_SECONDS, call, serving

ROOT = Path(__file__).resolve().parents[2]
FAULT_SITE = Path(__file__).resolve().parent / "fault_site"
REFUSING_TICKETS = {
    "PYTHONPATH": os.pathsep.join([str(FAULT_SITE), str(ROOT)]),
    "TEST_REFUSING_READ_MODELS": "tickets",
}
# The worker runs at the lowest CPU priority: on a busy machine it may trail for a while.
WAIT_SECONDS = 60.0


def deliver(base: str, ticket_id: int, timestamp: str, **fields: Any) -> int:
    status, answer = call(base, "POST", INTAKE, delivery(ticket_id, timestamp=timestamp, **fields))
    assert status == 201, answer
    position: int = answer["position"]
    return position


def tickets_status(base: str) -> dict[str, Any]:
    status, projections = call(base, "GET", "/v1/projections")
    assert status == 200, projections
    (tickets,) = [projection for projection in projections if projection["name"] == "tickets"]
    return dict(tickets)


def until_tickets(base: str, shown: Callable[[dict[str, Any]], bool]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not shown(tickets := tickets_status(base)):
        assert time.monotonic() < deadline, tickets
        time.sleep(0.1)


def metrics(base: str) -> str:
    with urllib.request.urlopen(f"{base}/metrics", timeout=REQUEST_TIMEOUT_SECONDS) as answer:
        text: str = answer.read().decode()
        return text


def test_the_worker_parks_an_event_and_serve_answers_stale_until_a_rebuild(
    database_url: str,
) -> None:
    with serving(database_url, None, **REFUSING_TICKETS) as base:
        deliver(base, 5201, "2024-05-17T10:00:00", quantity=1)
        refused = deliver(
            base, 5201, "2024-05-17T12:00:00", quantity=2, **{REFUSED_BY: ["tickets"]}
        )
        head = deliver(base, 5202, "2024-05-17T12:00:00", quantity=5)
        stale = {
            "projection": "tickets",
            "position": refused,
            "error": f"ValueError: tickets refuses the event at position {refused}",
        }

        until_tickets(base, lambda tickets: tickets["position"] >= head)
        status, state = call(base, "GET", "/v1/tickets/5201")
        assert status == 200, state
        assert (state["version"], state["stale"]) == (1, stale)
        status, other = call(base, "GET", "/v1/tickets/5202")
        assert status == 200, other
        assert "stale" not in other
        tickets = tickets_status(base)
        assert (tickets["parked"], tickets["state"], tickets["position"]) == (1, "live", head)
        assert 'ticket_audit_projection_parked{projection="tickets"} 1.0' in metrics(base)

    with serving(database_url) as base:
        # Fixed and restarted: the parked event stays parked, and said, until a rebuild.
        assert tickets_status(base)["parked"] == 1
        status, state = call(base, "GET", "/v1/tickets/5201")
        assert state["stale"] == stale

        status, started = call(base, "POST", "/v1/projections/tickets/rebuild")
        assert status == 202, started
        until_tickets(base, lambda tickets: tickets["parked"] == 0 and tickets["state"] == "live")
        status, state = call(base, "GET", "/v1/tickets/5201")
        assert status == 200, state
        assert state["version"] == 2
        assert "stale" not in state
        assert 'ticket_audit_projection_parked{projection="tickets"} 0.0' in metrics(base)
