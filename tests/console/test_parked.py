"""A read model that parks an event shows in the console: the ticket page says which part is
stale, and the health and projections pages count the parked event."""

from __future__ import annotations

import pytest

from projections.catalog import CATALOG
from tests.console.pages import page_html, text_of
from tests.helpers import Serve, make_settings, projections_caught_up
from tests.projections.faults import REFUSED_BY, REFUSING
from tests.projections.helpers import EARLY, LATE, MIDDLE, TicketApi


async def test_a_parked_event_marks_the_ticket_page_stale_and_is_counted(
    serve: Serve, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(CATALOG, "quantity", REFUSING["quantity"])
    api = TicketApi(await serve(make_settings(database_url)))
    await api.deliver(5001, EARLY, quantity=1)
    refused = await api.deliver(5001, MIDDLE, quantity=2, **{REFUSED_BY: ["quantity"]})
    await api.deliver(5001, LATE, quantity=3)
    await api.deliver(5002, EARLY, quantity=7)
    await projections_caught_up(api.client, api.head)

    text = text_of(await page_html(api.client, "/tickets/5001"))
    assert (
        f"Stale: the quantity read model could not apply this ticket's event at position "
        f"{refused.position} (ValueError: quantity refuses the event at position "
        f"{refused.position})" in text
    )
    assert text.count("Stale:") == 1
    assert "Stale:" not in text_of(await page_html(api.client, "/tickets/5002"))
    assert "quantity live" in text_of(await page_html(api.client, "/"))
    assert "1 parked" in text_of(await page_html(api.client, "/"))
    projections = await page_html(api.client, "/admin/projections")
    row = projections[projections.index('<th scope="row">quantity</th>') :]
    assert '<td class="num problem">1</td>' in row[: row.index("</tr>")]


async def test_a_ticket_whose_only_event_is_parked_says_why_it_is_missing(
    serve: Serve, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(CATALOG, "tickets", REFUSING["tickets"])
    api = TicketApi(await serve(make_settings(database_url)))
    refused = await api.deliver(5003, EARLY, quantity=9, **{REFUSED_BY: ["tickets"]})
    await projections_caught_up(api.client, api.head)
    text = text_of(await page_html(api.client, "/tickets/5003", status=404))
    assert (
        f"The tickets read model could not apply this ticket's event at position "
        f"{refused.position}" in text
    )
